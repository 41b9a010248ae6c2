//! CloudWatch alarms watched while traffic shifts: which of them fire now.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use serde::{Deserialize, Serialize};

use crate::error::UsageError;
use crate::retry::Aws;

/// An alarm in the `ALARM` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    /// The alarm's name.
    pub name: String,
    /// CloudWatch's reason for the state.
    pub reason: String,
}

/// The alarms a deploy watches, and the CloudWatch client that reads them.
#[derive(Debug, Clone)]
pub struct Alarms {
    client: Aws<aws_sdk_cloudwatch::Client>,
    names: Vec<String>,
}

impl Alarms {
    /// Watches `names` with `client` (whose configuration limits each call's time).
    pub fn new(client: Aws<aws_sdk_cloudwatch::Client>, names: Vec<String>) -> Self {
        Self { client, names }
    }

    /// The alarms watched.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The watched alarms in `ALARM` now. An alarm CloudWatch does not know is a usage error
    /// (a typo would otherwise never fire).
    pub async fn firing(&self) -> anyhow::Result<Vec<Firing>> {
        let mut firing = Vec::new();
        let mut found = Vec::new();
        // DescribeAlarms takes up to 100 names at once.
        for names in self.names.chunks(100) {
            let client = &self.client;
            let reply = client
                .call("DescribeAlarms", || {
                    client
                        .sdk
                        .describe_alarms()
                        .set_alarm_names(Some(names.to_vec()))
                        .alarm_types(AlarmType::MetricAlarm)
                        .alarm_types(AlarmType::CompositeAlarm)
                        .send()
                })
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "failed to read the CloudWatch alarms {}: {}",
                        names.join(", "),
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    )
                })?;
            let states = reply
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()))
                .chain(
                    reply
                        .composite_alarms()
                        .iter()
                        .map(|a| (a.alarm_name(), a.state_value(), a.state_reason())),
                );
            for (name, state, reason) in states {
                let Some(name) = name else { continue };
                found.push(name.to_string());
                if state == Some(&StateValue::Alarm) {
                    firing.push(Firing {
                        name: name.to_string(),
                        reason: reason.unwrap_or("no reason given").to_string(),
                    });
                }
            }
        }
        let unknown: Vec<&str> = self
            .names
            .iter()
            .filter(|n| !found.contains(n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(UsageError::new(
                format!("CloudWatch has no alarm named {}", unknown.join(", ")),
                "fix [deploy] alarms (names are case-sensitive), or create the alarm first",
            )
            .into());
        }
        Ok(firing)
    }
}
