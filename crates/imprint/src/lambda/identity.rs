//! Who is deploying, from STS GetCallerIdentity, for the journal.

use serde::{Deserialize, Serialize};

use crate::reporter::Reporter;
use crate::retry::Aws;

/// The caller, from STS GetCallerIdentity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// `arn:aws:…`.
    pub arn: Option<String>,
    /// The account.
    pub account: Option<String>,
    /// The user ID.
    pub user_id: Option<String>,
}

/// The caller; on failure a warning and an unknown caller (a journal record without one is
/// better than no deploy).
pub async fn caller_identity(client: &Aws<aws_sdk_sts::Client>, reporter: &dyn Reporter) -> Caller {
    match identify(client).await {
        Ok(caller) => caller,
        Err(e) => {
            reporter.warn(&format!(
                "cannot read the caller identity from STS ({e}); the journal records no caller"
            ));
            Caller::default()
        }
    }
}

/// STS GetCallerIdentity, its error cut to one line (the SDK's full text carries every
/// credential provider's debug dump).
pub async fn identify(client: &Aws<aws_sdk_sts::Client>) -> Result<Caller, String> {
    let asked = client
        .call("GetCallerIdentity", || {
            client.sdk.get_caller_identity().send()
        })
        .await;
    match asked {
        Ok(id) => Ok(Caller {
            arn: id.arn().map(str::to_string),
            account: id.account().map(str::to_string),
            user_id: id.user_id().map(str::to_string),
        }),
        Err(e) => Err(short_sdk_error(&e)),
    }
}

fn short_sdk_error(e: &impl std::error::Error) -> String {
    let text = aws_sdk_sts::error::DisplayErrorContext(e).to_string();
    if text.contains("no credentials found") {
        return "no AWS credentials found (looked in the environment, profiles, web identity, ECS and instance metadata)".into();
    }
    let first = text.lines().next().unwrap_or_default();
    first.split(" (").next().unwrap_or(first).to_string()
}
