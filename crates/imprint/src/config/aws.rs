//! `[aws]`: where AWS calls go and as whom (region, profile, a role to assume); each
//! `[env.NAME]` may name its own, so environments can be other accounts and regions.

use serde::Deserialize;

/// `[aws]` (or `[env.NAME.aws]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    /// The region of the functions (and of STS, CloudWatch); else `AWS_REGION`, the profile.
    pub region: Option<String>,
    /// The AWS profile (from `~/.aws/config`); else `AWS_PROFILE`, `default`.
    pub profile: Option<String>,
    /// A role to assume with the credentials found (another account's deployer).
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    /// The session name CloudTrail shows (default `imprint`).
    pub session_name: Option<String>,
    /// Lambda control-plane requests a second imprint may send (1 to 15, AWS's quota for the
    /// account and region, which every caller shares; default 15).
    pub control_plane_rate: Option<u32>,
}

impl AwsSection {
    /// `overlay` over this section, key by key (as the other sections merge).
    pub fn merge(self, overlay: Self) -> Self {
        Self {
            region: overlay.region.or(self.region),
            profile: overlay.profile.or(self.profile),
            role_arn: overlay.role_arn.or(self.role_arn),
            external_id: overlay.external_id.or(self.external_id),
            session_name: overlay.session_name.or(self.session_name),
            control_plane_rate: overlay.control_plane_rate.or(self.control_plane_rate),
        }
    }

    /// What is wrong with the values, if anything (the key and why).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(region) = &self.region {
            let ok = !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err((
                    "region",
                    format!("`{region}` is not an AWS region (like us-east-1)"),
                ));
            }
        }
        if let Some(arn) = &self.role_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "iam"
                && parts[5].starts_with("role/");
            if !ok {
                return Err((
                    "role_arn",
                    format!("`{arn}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                ));
            }
        }
        if let Some(rate) = self.control_plane_rate {
            if !(1..=15).contains(&rate) {
                return Err((
                    "control_plane_rate",
                    format!("{rate} is not a rate imprint can keep: Lambda allows 15 control-plane requests a second per account and region; give 1 to 15"),
                ));
            }
        }
        if let Some(name) = &self.session_name {
            let ok = (2..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(c));
            if !ok {
                return Err((
                    "session_name",
                    format!("`{name}` is not a session name (2 to 64 of A-Z a-z 0-9 =,.@-_)"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overlay_wins_key_by_key_and_bad_values_are_named() {
        let base = AwsSection {
            region: Some("us-east-1".into()),
            profile: Some("dev".into()),
            ..AwsSection::default()
        };
        let prod = AwsSection {
            region: Some("eu-west-1".into()),
            role_arn: Some("arn:aws:iam::210987654321:role/deployer".into()),
            ..AwsSection::default()
        };
        let merged = base.merge(prod);
        assert_eq!(merged.region.as_deref(), Some("eu-west-1"));
        assert_eq!(merged.profile.as_deref(), Some("dev"));
        assert!(merged.check().is_ok());
        let bad = AwsSection {
            role_arn: Some("arn:aws:iam::1:user/me".into()),
            ..AwsSection::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "role_arn");
        let bad = AwsSection {
            region: Some("US East".into()),
            ..AwsSection::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "region");
        for (rate, ok) in [(0, false), (1, true), (15, true), (16, false)] {
            let section = AwsSection {
                control_plane_rate: Some(rate),
                ..AwsSection::default()
            };
            assert_eq!(section.check().is_ok(), ok, "{rate}");
        }
    }
}
