//! From the local tree to a pushed image: content tag, source metadata, lock, and three rooms:
//! `build` (the builders), `push` (layers, uploads, the index artifact, promotion) and `local`
//! (running an image on this machine).

pub(crate) mod build;
pub(crate) mod built;
pub(crate) mod changes;
pub(crate) mod deployable;
pub(crate) mod inspect;
pub(crate) mod local;
pub(crate) mod lock;
pub(crate) mod push;
pub(crate) mod source;
mod tag;
pub(crate) mod verify;

pub use push::archive::{from_archive, Image, ImageError, Layer, LayerTee, LayerWatch, Unwatched};
pub(crate) use tag::{
    check_given as check_given_tag, hash_tree, tag_checkout, tag_content, TagQuery, TagSource,
};
