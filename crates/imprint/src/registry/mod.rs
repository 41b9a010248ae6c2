//! Registries: names, credentials and the ECR token, the provider (ECR or any OCI registry),
//! auth challenges, the OCI client, copies.

mod artifact;
mod auth;
mod client;
mod copy;
pub(crate) mod credentials;
mod delete;
pub(crate) mod ecr;
mod error;
mod provider;
mod reference;
mod retry;
mod upload;

pub(crate) use artifact::{put_artifact, read_artifact_blob, ArtifactManifest, Descriptor};
pub(crate) use client::{http_client, Http};
pub use client::{sha256_digest, BlobBody, Manifest, Registry};
pub use copy::{copy_manifest, copy_one_blob, BlobSink, Copied, Placed};
pub use error::RegistryError;
pub use provider::{IamGrants, Provider};
pub use reference::{ImageName, Repository};
pub use upload::ChunkedUpload;
