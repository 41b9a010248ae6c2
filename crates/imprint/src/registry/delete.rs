//! Deleting manifests for `gc`: `DELETE` by digest on an OCI registry, `BatchDeleteImage` on
//! ECR (whose registry API has no delete). Either way every tag naming the manifest goes too.

use reqwest::{Method, StatusCode};

use super::client::Registry;
use super::ecr::EcrHost;
use super::error::RegistryError;
use crate::retry::Aws;

/// How many image IDs one `BatchDeleteImage` takes.
const ECR_BATCH: usize = 100;

impl Registry {
    /// Deletes the manifest `digest` (and with it every tag naming it); `false` when it was
    /// already gone.
    pub async fn delete_manifest(&self, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("manifests/{digest}"));
        let response = self.send(|h| Ok(h.delete(url.clone()))).await?;
        match response.status() {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::METHOD_NOT_ALLOWED => Err(RegistryError::DeleteUnsupported {
                repository: self.repository.to_string(),
            }),
            _ => Err(Self::unexpected(Method::DELETE, &url, response).await),
        }
    }
}

/// Deletes the manifests `digests` from the ECR repository `name` (`client` for its
/// region); each digest ECR could not delete, with its reason (one already gone is not a
/// failure).
pub async fn ecr_delete(
    client: &Aws<aws_sdk_ecr::Client>,
    host: &EcrHost,
    name: &str,
    digests: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut failed = Vec::new();
    for batch in digests.chunks(ECR_BATCH) {
        let ids = batch
            .iter()
            .map(|d| {
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(d)
                    .build()
            })
            .collect::<Vec<_>>();
        let answer = client
            .call("BatchDeleteImage", || {
                client
                    .sdk
                    .batch_delete_image()
                    .registry_id(&host.account)
                    .repository_name(name)
                    .set_image_ids(Some(ids.clone()))
                    .send()
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "ECR BatchDeleteImage in {name} failed: {}",
                    aws_sdk_ecr::error::DisplayErrorContext(e)
                )
            })?;
        for failure in answer.failures() {
            let digest = failure
                .image_id()
                .and_then(|id| id.image_digest())
                .unwrap_or_default()
                .to_string();
            let code = failure
                .failure_code()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default();
            // Already gone is what was asked for.
            if code == "ImageNotFound" {
                continue;
            }
            let reason = failure.failure_reason().unwrap_or_default();
            failed.push((digest, format!("{code}: {reason}")));
        }
    }
    Ok(failed)
}
