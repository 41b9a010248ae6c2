//! Pushing: the builder's export read into deterministic layers (`archive`, `member`,
//! `gzip`, `buffers`), uploaded while they are made (`upload`, with what was sent before: `sent`),
//! published and verified (`publish`), the index artifact beside each image (`index`), and
//! promotion between repositories.

pub(crate) mod archive;
mod buffers;
mod gzip;
pub(crate) mod index;
mod member;
pub(crate) mod promote;
pub(crate) mod publish;
mod sent;
mod upload;
