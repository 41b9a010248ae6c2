//! The AWS SDK's configuration for one run: the region (`[aws] region`, the environment, the
//! profile, the instance metadata service only on EC2), the credentials (`[aws] profile`, the
//! standard chain) and, with `[aws] role_arn`, a role assumed with them.

use aws_config::default_provider::{credentials, token};
use aws_config::meta::region::RegionProviderChain;
use aws_config::SdkConfig;

use crate::config::AwsSection;
use crate::timeouts::Timeouts;

/// Loads it. The credential and token chains look for the region the way imprint does: left
/// to themselves, they would ask the instance metadata service when none is set, and wait on
/// its time-outs off EC2.
pub async fn load(aws: &AwsSection, limits: &Timeouts) -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(limits.connect)
        .read_timeout(limits.read)
        .operation_timeout(limits.call)
        .build();
    // Found once, for the loader and both chains (each would read the profile again).
    let region = region_chain(aws).region().await;
    let mut found = credentials::DefaultCredentialsChain::builder().region(region.clone());
    let mut tokens = token::DefaultTokenChain::builder().region(region.clone());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .region(region);
    if let Some(profile) = &aws.profile {
        found = found.profile_name(profile);
        tokens = tokens.profile_name(profile);
        loader = loader.profile_name(profile);
    }
    let base = loader
        .credentials_provider(found.build().await)
        .token_provider(tokens.build().await)
        .load()
        .await;
    let Some(role) = &aws.role_arn else {
        return base;
    };
    let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(aws.session_name.as_deref().unwrap_or("imprint"))
        .configure(&base);
    if let Some(id) = &aws.external_id {
        assume = assume.external_id(id);
    }
    let assumed = assume.build().await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(assumed),
        )
        .build()
}

/// Where the region comes from: `[aws] region`, the environment, the profile, then (only on
/// EC2, where it answers) the instance metadata service; elsewhere asking it costs time-outs.
fn region_chain(aws: &AwsSection) -> RegionProviderChain {
    use aws_config::environment::region::EnvironmentVariableRegionProvider;
    use aws_config::profile::ProfileFileRegionProvider;
    let configured = aws.region.clone().map(aws_config::Region::new);
    let mut profile = ProfileFileRegionProvider::builder();
    if let Some(name) = &aws.profile {
        profile = profile.profile_name(name);
    }
    let chain = RegionProviderChain::first_try(configured)
        .or_else(EnvironmentVariableRegionProvider::new())
        .or_else(profile.build());
    match on_ec2() {
        true => chain.or_else(aws_config::imds::region::ImdsRegionProvider::builder().build()),
        false => chain,
    }
}

/// Whether this machine looks like an EC2 instance (its firmware says so) and the metadata
/// service is not turned off.
fn on_ec2() -> bool {
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    read("/sys/class/dmi/id/sys_vendor").contains("Amazon")
        || read("/sys/class/dmi/id/board_asset_tag").starts_with("i-")
        || read("/sys/hypervisor/uuid")
            .to_ascii_lowercase()
            .starts_with("ec2")
}
