//! One function as Lambda reports it: its image, package type, state and last update.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::image::{digest_of, tag_of, FunctionImage};
use super::retry::{Lambda, PARALLEL_READS};
use super::versions::{read_alias, AliasView};
use crate::error::UsageError;

/// Declares an enum of Lambda's words with a catch-all for words it may add later; it reads
/// from the SDK's value and writes (in JSON too) the word Lambda used.
macro_rules! lambda_words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A word this imprint does not know.
            Other(String),
        }

        impl $name {
            /// Lambda's word for it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $word,)+
                    Self::Other(word) => word,
                }
            }

            fn from_word(word: &str) -> Self {
                match word {
                    $($word => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

lambda_words!(
    /// How the function's code is packaged.
    PackageType { Image = "Image", Zip = "Zip" }
);
lambda_words!(
    /// The function's state.
    State { Pending = "Pending", Active = "Active", Inactive = "Inactive", Failed = "Failed" }
);
lambda_words!(
    /// How the function's last update went.
    UpdateStatus { Successful = "Successful", InProgress = "InProgress", Failed = "Failed" }
);

/// One function as Lambda reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Function {
    /// Function name.
    pub name: String,
    /// `Image` or `Zip`.
    pub package_type: Option<PackageType>,
    /// The image URI it was given.
    pub image_uri: Option<String>,
    /// The tag in that URI (none when it names a digest).
    pub tag: Option<String>,
    /// The digest Lambda resolved the image to (after the last `@` of ResolvedImageUri).
    pub digest: Option<String>,
    /// `Active`, `Pending`, `Inactive` or `Failed`.
    pub state: Option<State>,
    /// `Successful`, `InProgress` or `Failed`.
    pub last_update_status: Option<UpdateStatus>,
    /// Why the last update failed, when it did.
    pub last_update_reason: Option<String>,
    /// When the function last changed.
    pub last_modified: Option<String>,
    /// `x86_64` or `arm64`.
    pub architectures: Vec<String>,
    /// The command its image config gives (the handler, for Python), overriding the image's
    /// `CMD`; empty when it gives none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The revision, passed back with an update so a concurrent change is detected.
    #[serde(skip)]
    pub revision_id: Option<String>,
    /// The alias deploys move (`[deploy] alias`), when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasView>,
}

impl Function {
    /// The image it runs, if any.
    pub fn image(&self) -> Option<FunctionImage> {
        self.image_uri.as_ref().map(|uri| FunctionImage {
            uri: uri.clone(),
            digest: self.digest.clone(),
        })
    }

    /// The image its callers run: the alias's main version's when the alias was read,
    /// else `$LATEST`'s.
    pub fn serving(&self) -> Option<FunctionImage> {
        match &self.alias {
            Some(alias) => alias.image.clone(),
            None => self.image(),
        }
    }

    /// Whether it is an image function.
    pub fn is_image(&self) -> bool {
        self.package_type == Some(PackageType::Image)
    }

    /// Whether an update is under way (or the function is still being made).
    pub fn is_busy(&self) -> bool {
        self.last_update_status == Some(UpdateStatus::InProgress)
            || self.state == Some(State::Pending)
    }
}

/// Reads every function, a few at a time.
/// Reads every function, a few at a time; the missing ones are one usage error naming each.
pub async fn read_functions(client: &Lambda, names: &[String]) -> anyhow::Result<Vec<Function>> {
    let read: Vec<Option<Function>> = stream::iter(names)
        .map(|name| read_existing(client, name))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await?;
    let missing: Vec<&str> = names
        .iter()
        .zip(&read)
        .filter(|(_, f)| f.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    match missing.as_slice() {
        [] => Ok(read.into_iter().flatten().collect()),
        [one] => Err(missing_function(one).into()),
        many => Err(UsageError::new(
            format!("the Lambda functions {} do not exist", many.join(", ")),
            "create them (Pulumi), or remove them from [deploy] functions",
        )
        .into()),
    }
}

fn missing_function(name: &str) -> UsageError {
    UsageError::new(
        format!("the Lambda function {name} does not exist"),
        "create it (Pulumi), or remove it from [deploy] functions",
    )
}

/// Puts each function's view of `alias` (`views`, in the same order, from
/// [`read_alias_views`]) into `functions`; the functions without it are a usage error naming
/// each and saying how to create it.
pub fn attach_aliases(
    functions: &mut [Function],
    alias: &str,
    views: Vec<Option<AliasView>>,
) -> anyhow::Result<()> {
    let missing: Vec<&str> = functions
        .iter()
        .zip(&views)
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(UsageError::new(
            format!("no alias \"{alias}\" on {}; nothing was changed", missing.join(", ")),
            format!("create it once per function (the example's Pulumi program does: aws.lambda_.Alias), or with `aws lambda create-alias --function-name NAME --name {alias} --function-version $(aws lambda publish-version --function-name NAME --query Version --output text)`"),
        )
        .into());
    }
    for (f, view) in functions.iter_mut().zip(views) {
        f.alias = view;
    }
    Ok(())
}

/// Each function's `alias` (with the images of its versions), a few at a time; `None` for a
/// function without it.
pub async fn read_alias_views(
    client: &Lambda,
    names: &[String],
    alias: &str,
) -> anyhow::Result<Vec<Option<AliasView>>> {
    stream::iter(names)
        .map(|name| read_alias(client, name, alias))
        .buffered(PARALLEL_READS)
        .try_collect()
        .await
}

/// Reads one function; a missing one is a usage error naming it.
pub async fn read_function(client: &Lambda, name: &str) -> anyhow::Result<Function> {
    read_existing(client, name)
        .await?
        .ok_or_else(|| missing_function(name).into())
}

/// Reads one function; `None` when it does not exist.
async fn read_existing(client: &Lambda, name: &str) -> anyhow::Result<Option<Function>> {
    let reply = match client
        .call(&format!("GetFunction {name}"), || {
            client.sdk.get_function().function_name(name).send()
        })
        .await
    {
        Ok(reply) => reply,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "failed to read the Lambda function {name}: {}",
                client.error_text(&e)
            ))
        }
    };
    let config = reply.configuration();
    let code = reply.code();
    let image_uri = code.and_then(|c| c.image_uri()).map(str::to_string);
    let tag = image_uri.as_deref().and_then(tag_of);
    let digest = code
        .and_then(|c| c.resolved_image_uri())
        .and_then(digest_of);
    Ok(Some(Function {
        name: name.to_string(),
        package_type: config
            .and_then(|c| c.package_type())
            .map(|p| PackageType::from_word(p.as_str())),
        image_uri,
        tag,
        digest,
        state: config
            .and_then(|c| c.state())
            .map(|s| State::from_word(s.as_str())),
        last_update_status: config
            .and_then(|c| c.last_update_status())
            .map(|s| UpdateStatus::from_word(s.as_str())),
        last_update_reason: config.and_then(update_reason),
        last_modified: config.and_then(|c| c.last_modified()).map(str::to_string),
        architectures: config
            .map(|c| {
                c.architectures()
                    .iter()
                    .map(|a| a.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default(),
        command: config
            .and_then(|c| c.image_config_response())
            .and_then(|r| r.image_config())
            .map(|c| c.command().to_vec())
            .unwrap_or_default(),
        revision_id: config.and_then(|c| c.revision_id()).map(str::to_string),
        alias: None,
    }))
}

/// Why the last update failed, as Lambda says: its reason code and text.
fn update_reason(config: &aws_sdk_lambda::types::FunctionConfiguration) -> Option<String> {
    let code = config.last_update_status_reason_code().map(|c| c.as_str());
    match (code, config.last_update_status_reason()) {
        (Some(code), Some(text)) => Some(format!("{code}: {text}")),
        (None, Some(text)) => Some(text.to_string()),
        (Some(code), None) => Some(code.to_string()),
        (None, None) => None,
    }
}

/// The Lambda architecture an image platform runs on (`linux/amd64` → `x86_64`).
pub fn architecture_of(platform: &str) -> Option<&'static str> {
    match platform.split('/').nth(1)? {
        "amd64" => Some("x86_64"),
        "arm64" => Some("arm64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_map_to_lambda_architectures() {
        assert_eq!(architecture_of("linux/amd64"), Some("x86_64"));
        assert_eq!(architecture_of("linux/arm64/v8"), Some("arm64"));
        assert_eq!(architecture_of("linux/s390x"), None);
    }

    #[test]
    fn lambda_words_keep_unknown_ones() {
        assert_eq!(
            UpdateStatus::from_word("InProgress"),
            UpdateStatus::InProgress
        );
        let new = State::from_word("Hibernating");
        assert_eq!(new.as_str(), "Hibernating");
        assert_eq!(serde_json::to_string(&new).unwrap(), "\"Hibernating\"");
        assert_eq!(
            serde_json::to_string(&PackageType::Image).unwrap(),
            "\"Image\""
        );
    }
}
