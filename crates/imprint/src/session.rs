//! One run of imprint: its settings and printer, and every client it needs (the registry's,
//! the AWS configuration, Lambda, STS, ECR), each made once, on first use, and lent out.

use std::collections::HashMap;

use aws_config::retry::RetryConfig;
use tokio::sync::{Mutex, OnceCell};

use crate::config::Settings;
use crate::error::UsageError;
use crate::lambda::Lambda;
use crate::printer::Printer;
use crate::registry::ecr::{self, EcrHost};
use crate::registry::{credentials, is_loopback_host, Http, Registry, Repository};
use crate::retry::Aws;

/// The settings, the printer and the clients of one run.
pub struct Session {
    /// Flags, `IMPRINT_*` and imprint.toml, merged once.
    pub settings: Settings,
    /// Where results and messages go.
    pub printer: Printer,
    http: OnceCell<Http>,
    registry: OnceCell<Registry>,
    aws: OnceCell<aws_config::SdkConfig>,
    lambda: OnceCell<Lambda>,
    sts: OnceCell<Aws<aws_sdk_sts::Client>>,
    cloudwatch: OnceCell<Aws<aws_sdk_cloudwatch::Client>>,
    /// ECR clients by region (the repository's region may differ from the functions').
    ecr: Mutex<HashMap<String, Aws<aws_sdk_ecr::Client>>>,
}

impl Session {
    /// A session with no client made yet.
    pub fn new(settings: Settings, printer: Printer) -> Self {
        Self {
            settings,
            printer,
            http: OnceCell::new(),
            registry: OnceCell::new(),
            aws: OnceCell::new(),
            lambda: OnceCell::new(),
            sts: OnceCell::new(),
            cloudwatch: OnceCell::new(),
            ecr: Mutex::new(HashMap::new()),
        }
    }

    /// The client for the configured repository (with an ECR token for ECR hosts); a usage
    /// error when none is configured.
    pub async fn registry(&self) -> anyhow::Result<&Registry> {
        self.registry
            .get_or_try_init(|| async {
                let configured = self.settings.registry.as_ref().ok_or_else(|| {
                    UsageError::new(
                        "no image repository is configured",
                        "set [registry] repository in imprint.toml, or pass --repository HOST/PATH",
                    )
                })?;
                self.registry_for(&configured.repository, configured.endpoint.as_deref())
                    .await
            })
            .await
    }

    /// A client for another repository (a base image's) over the same HTTP client: an ECR
    /// token for ECR hosts, which is only ever sent to an ECR host or to loopback, else the
    /// docker config's credential for the host.
    pub async fn registry_for(
        &self,
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
        let credential = match EcrHost::parse(&repository.host) {
            Some(host) => {
                let target = registry.target_host();
                if EcrHost::parse(&target).is_none() && !is_loopback_host(&target) {
                    return Err(UsageError::new(
                        format!("[registry] endpoint sends {repository}'s traffic to {target}, which is neither ECR nor loopback; imprint does not send an ECR token there"),
                        "point the endpoint at the ECR host or at a loopback proxy, or remove it",
                    )
                    .into());
                }
                let client = self.ecr(&host.region).await;
                Some(ecr::credential(&client, &host, &self.printer).await?)
            }
            None => credentials::for_host(&repository.host)?,
        };
        if let Some(credential) = credential {
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
                let aws = &self.settings.config.sections.aws;
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
                Ok(Lambda::new(config, self.settings.timeouts.call))
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
    pub async fn ecr(&self, region: &str) -> Aws<aws_sdk_ecr::Client> {
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
