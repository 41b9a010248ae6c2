//! Pushing: the builder's export read into deterministic layers (`archive`, `gzip`,
//! `buffers`), uploaded while they are made (`upload`), published and verified (`publish`),
//! the index artifact beside each image (`index`), and promotion between repositories.

pub(crate) mod archive;
mod buffers;
mod gzip;
pub(crate) mod index;
pub(crate) mod promote;
pub(crate) mod publish;
mod upload;
