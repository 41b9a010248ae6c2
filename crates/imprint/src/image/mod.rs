//! From the local tree to a pushed image: content tag, source metadata, lock, builder, layers,
//! push, promotion between repositories, local runs.

mod archive;
mod buffers;
pub(crate) mod builder;
pub(crate) mod changes;
pub(crate) mod container;
pub(crate) mod deployable;
pub(crate) mod engine;
mod gzip;
pub(crate) mod index;
pub(crate) mod lock;
pub(crate) mod promote;
pub(crate) mod publish;
mod runtime_api;
pub(crate) mod source;
mod tag;
mod upload;

pub use archive::{from_archive, Image, ImageError, Layer, LayerTee, LayerWatch, Unwatched};
pub(crate) use tag::{check_given as check_given_tag, hash_tree, tag_content, TagQuery, TagSource};
