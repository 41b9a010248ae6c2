//! One run of imprint: its settings and reporter, and every client it needs (the registry's,
//! the AWS configuration, Lambda, STS, ECR), each made once, on first use, and lent out.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use tokio::sync::{Mutex, OnceCell};

use crate::config::Settings;
use crate::error::UsageError;
use crate::lambda::{Lambda, Pace};
use crate::registry::{Http, Provider, Registry, Repository};
use crate::reporter::Reporter;
use crate::retry::Aws;

/// The settings, the reporter and the clients of one run.
pub struct Session {
    /// Flags, `IMPRINT_*` and imprint.toml, merged once.
    pub settings: Settings,
    /// Where the library's messages and progress go.
    reporter: Arc<dyn Reporter>,
    http: OnceCell<Http>,
    registry: OnceCell<Registry>,
    provider: OnceCell<Provider>,
    aws: OnceCell<aws_config::SdkConfig>,
    lambda: OnceCell<Lambda>,
    sts: OnceCell<Aws<aws_sdk_sts::Client>>,
    cloudwatch: OnceCell<Aws<aws_sdk_cloudwatch::Client>>,
    /// ECR clients by region (the repository's region may differ from the functions').
    ecr: Mutex<HashMap<String, Aws<aws_sdk_ecr::Client>>>,
}

impl Session {
    /// A session with no client made yet.
    pub fn new(settings: Settings, reporter: Arc<dyn Reporter>) -> Self {
        Self {
            settings,
            reporter,
            http: OnceCell::new(),
            registry: OnceCell::new(),
            provider: OnceCell::new(),
            aws: OnceCell::new(),
            lambda: OnceCell::new(),
            sts: OnceCell::new(),
            cloudwatch: OnceCell::new(),
            ecr: Mutex::new(HashMap::new()),
        }
    }

    /// The configured repository; a usage error when none is.
    fn repository(&self) -> Result<&Repository, UsageError> {
        let configured = self.settings.registry.as_ref().ok_or_else(|| {
            UsageError::new(
                "no image repository is configured",
                "set [registry] repository in imprint.toml, or pass --repository HOST/PATH",
            )
        })?;
        Ok(&configured.repository)
    }

    /// Where the library's messages and progress go.
    pub fn reporter(&self) -> &dyn Reporter {
        self.reporter.as_ref()
    }

    /// The reporter, to hand to another session or a task of its own.
    pub fn shared_reporter(&self) -> Arc<dyn Reporter> {
        self.reporter.clone()
    }

    /// The client for the configured repository (with its provider's credential); a usage
    /// error when none is configured.
    pub async fn registry(&self) -> anyhow::Result<&Registry> {
        self.registry
            .get_or_try_init(|| async {
                let repository = self.repository()?;
                let endpoint = self
                    .settings
                    .registry
                    .as_ref()
                    .and_then(|r| r.endpoint.as_deref());
                let provider = self.provider().await?;
                self.registry_with(provider, repository, endpoint).await
            })
            .await
    }

    /// The provider of the configured repository (ECR or another OCI registry), resolved
    /// once; a usage error when none is configured.
    pub async fn provider(&self) -> anyhow::Result<&Provider> {
        self.provider
            .get_or_try_init(|| async {
                let repository = self.repository()?;
                anyhow::Ok(self.provider_for(repository).await)
            })
            .await
    }

    /// The provider of any repository (a base image's), with an ECR client for its region
    /// when it is on ECR.
    pub async fn provider_for(&self, repository: &Repository) -> Provider {
        let ecr = match Provider::ecr_region(repository) {
            Some(region) => Some(self.ecr(&region).await),
            None => None,
        };
        Provider::new(repository, ecr)
    }

    /// A client for another repository (a base image's) over the same HTTP client, with its
    /// provider's credential.
    pub async fn registry_for(
        &self,
        repository: &Repository,
        endpoint: Option<&str>,
    ) -> anyhow::Result<Registry> {
        let provider = self.provider_for(repository).await;
        self.registry_with(&provider, repository, endpoint).await
    }

    async fn registry_with(
        &self,
        provider: &Provider,
        repository: &Repository,
        endpoint: Option<&str>,
    ) -> anyhow::Result<Registry> {
        let http = self
            .http
            .get_or_try_init(|| async {
                tracing::debug!("made the registry HTTP clients");
                let settings = &self.settings;
                crate::registry::http_client(settings.ca_cert.as_deref(), &settings.timeouts)
            })
            .await?;
        let call = self.settings.timeouts.call;
        let mut registry = Registry::with_http(http.clone(), repository.clone(), endpoint, call)?;
        if let Some(credential) = provider.credential(&registry, self.reporter()).await? {
            registry.set_credential(credential);
        }
        Ok(registry)
    }

    /// The AWS configuration from the standard chain (profiles, environment, SSO, roles, and
    /// the SDK's own `AWS_ENDPOINT_URL*`); a region is required.
    pub async fn aws(&self) -> anyhow::Result<&aws_config::SdkConfig> {
        let config = self.aws_chain().await;
        if config.region().is_none() {
            return Err(UsageError::new(
                "no AWS region is set",
                "set AWS_REGION (or a region in your AWS profile)",
            )
            .into());
        }
        Ok(config)
    }

    /// The AWS configuration (`[aws]` of the environment over the standard chain), loaded
    /// once, whether or not it names a region.
    async fn aws_chain(&self) -> &aws_config::SdkConfig {
        self.aws
            .get_or_init(|| async {
                tracing::debug!("loaded the AWS configuration");
                let aws = self.settings.aws();
                crate::lambda::load_sdk_config(aws, &self.settings.timeouts).await
            })
            .await
    }

    /// The Lambda client, with imprint's one retry policy and time limit.
    pub async fn lambda(&self) -> anyhow::Result<&Lambda> {
        self.lambda
            .get_or_try_init(|| async {
                let config = self.aws().await?;
                tracing::debug!("made the Lambda client");
                let rate = self.settings.aws().control_plane_rate.map(f64::from);
                Ok(Lambda::new(
                    config,
                    self.settings.timeouts.call,
                    Pace::new(rate, quota_scale()?),
                ))
            })
            .await
    }

    /// The STS client (who is deploying), with imprint's one retry policy and time limit.
    pub async fn sts(&self) -> anyhow::Result<&Aws<aws_sdk_sts::Client>> {
        self.sts
            .get_or_try_init(|| async {
                let config = self.aws().await?;
                tracing::debug!("made the STS client");
                let conf = aws_sdk_sts::config::Builder::from(config)
                    .retry_config(RetryConfig::disabled())
                    .build();
                Ok(Aws::new(
                    aws_sdk_sts::Client::from_conf(conf),
                    self.settings.timeouts.call,
                ))
            })
            .await
    }

    /// The CloudWatch client (the alarms a deploy watches), with imprint's one retry policy.
    pub async fn cloudwatch(&self) -> anyhow::Result<&Aws<aws_sdk_cloudwatch::Client>> {
        self.cloudwatch
            .get_or_try_init(|| async {
                let config = self.aws().await?;
                tracing::debug!("made the CloudWatch client");
                let conf = aws_sdk_cloudwatch::config::Builder::from(config)
                    .retry_config(RetryConfig::disabled())
                    .build();
                let client = aws_sdk_cloudwatch::Client::from_conf(conf);
                Ok(Aws::new(client, self.settings.timeouts.call))
            })
            .await
    }

    /// The ECR client for `region` (an ECR registry's own region, whatever AWS_REGION says),
    /// with imprint's one retry policy.
    async fn ecr(&self, region: &str) -> Aws<aws_sdk_ecr::Client> {
        let base = self.aws_chain().await;
        let mut clients = self.ecr.lock().await;
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                tracing::debug!("made the ECR client for {region}");
                let conf = aws_sdk_ecr::config::Builder::from(base)
                    .region(aws_config::Region::new(region.to_string()))
                    .retry_config(RetryConfig::disabled())
                    .build();
                Aws::new(
                    aws_sdk_ecr::Client::from_conf(conf),
                    self.settings.timeouts.call,
                )
            })
            .clone()
    }
}

/// `IMPRINT_LAMBDA_QUOTA_SCALE`: Lambda's quotas times this, for a stand-in that scales them
/// (the tests' limits fixture, to stay short); 1 otherwise.
fn quota_scale() -> anyhow::Result<f64> {
    const NAME: &str = "IMPRINT_LAMBDA_QUOTA_SCALE";
    let Some(text) = std::env::var_os(NAME) else {
        return Ok(1.0);
    };
    match text.to_str().and_then(|t| t.parse::<f64>().ok()) {
        Some(scale) if (0.01..=1000.0).contains(&scale) => Ok(scale),
        _ => Err(crate::error::UsageError::new(
            format!(
                "{NAME}={} is not a number from 0.01 to 1000",
                text.to_string_lossy()
            ),
            format!("unset {NAME} (it is for stand-ins of Lambda that scale its quotas)"),
        )
        .into()),
    }
}
