//! The least-privilege IAM policy for this project: the Lambda, CloudWatch and ECR actions
//! imprint calls, on the configured functions, alarms and repository (a unit test keeps the list in step with the
//! calls in the code).

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::registry::IamGrants;

/// Lambda actions on the configured functions.
const FUNCTION_ACTIONS: [&str; 3] = [
    "lambda:GetFunction",
    "lambda:UpdateFunctionCode",
    "lambda:ListAliases",
];
/// Lambda actions of a deploy through an alias, on the functions and their versions.
const ALIAS_ACTIONS: [&str; 4] = [
    "lambda:GetAlias",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:InvokeFunction",
];
/// CloudWatch actions on the alarms a deploy watches.
const ALARM_ACTIONS: [&str; 1] = ["cloudwatch:DescribeAlarms"];
/// Actions that take no function (`[deploy] select`: the tagging API names the tagged
/// functions, ListFunctions the ones that exist; ListTags when GetResources is not granted).
const SELECT_ACTIONS: [&str; 3] = [
    "lambda:ListFunctions",
    "lambda:ListTags",
    "tag:GetResources",
];
/// Lambda actions of `imprint gc` (reading and deleting versions), on the functions and
/// their versions.
const GC_FUNCTION_ACTIONS: [&str; 2] = ["lambda:ListVersionsByFunction", "lambda:DeleteFunction"];
/// Lambda actions of `imprint gc` on every function of the region: it keeps what any image
/// function runs, configured or not (ListFunctions takes no resource narrower than `*`).
const GC_REGION_LIST: [&str; 1] = ["lambda:ListFunctions"];
const GC_REGION_READ: [&str; 1] = ["lambda:GetFunction"];
/// `imprint iam-policy --json`: the policy document itself.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Policy(pub Value);

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string_pretty(&self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// The policy for `settings`: `region` and `account` come from an ECR repository's host,
/// else from the arguments (`*` when unknown).
pub fn policy(
    settings: &Settings,
    region: Option<&str>,
    account: Option<&str>,
    create: bool,
    gc: bool,
) -> Policy {
    let registry = settings
        .registry
        .as_ref()
        .and_then(|r| IamGrants::of(&r.repository, create, gc));
    let account = account
        .map(str::to_string)
        .or_else(|| registry.as_ref().map(|g| g.account.clone()))
        .unwrap_or_else(|| "*".into());
    let region = region
        .map(str::to_string)
        .or_else(|| registry.as_ref().map(|g| g.region.clone()))
        .unwrap_or_else(|| "*".into());
    let deploy = settings.deploy();
    let mut statements = Vec::new();
    let functions: Vec<String> = match &deploy.functions {
        Some(names) => names
            .iter()
            .map(|n| match n.starts_with("arn:") {
                true => n.clone(),
                false => format!("arn:aws:lambda:{region}:{account}:function:{n}"),
            })
            .collect(),
        None => vec![format!("arn:aws:lambda:{region}:{account}:function:*")],
    };
    statements.push(json!({"Sid": "DeployFunctions", "Effect": "Allow",
        "Action": FUNCTION_ACTIONS, "Resource": functions}));
    if deploy.alias.is_some() {
        // Versions and aliases are qualified ARNs: `function:NAME:7`, `function:NAME:live`.
        let qualified: Vec<String> = functions
            .iter()
            .flat_map(|f| [f.clone(), format!("{f}:*")])
            .collect();
        statements.push(json!({"Sid": "DeployThroughAlias", "Effect": "Allow",
            "Action": ALIAS_ACTIONS, "Resource": qualified}));
    }
    if gc {
        let qualified: Vec<String> = functions
            .iter()
            .flat_map(|f| [f.clone(), format!("{f}:*")])
            .collect();
        statements.push(json!({"Sid": "CollectGarbageVersions", "Effect": "Allow",
            "Action": GC_FUNCTION_ACTIONS, "Resource": qualified}));
        statements.push(json!({"Sid": "ListEveryFunction", "Effect": "Allow",
            "Action": GC_REGION_LIST, "Resource": "*"}));
        let every = format!("arn:aws:lambda:{region}:{account}:function:*");
        statements.push(json!({"Sid": "ReadEveryFunction", "Effect": "Allow",
            "Action": GC_REGION_READ, "Resource": every}));
    }
    let alarms = deploy
        .alarms
        .as_ref()
        .map(|a| a.pairs())
        .unwrap_or_default();
    if !alarms.is_empty() {
        let mut arns: Vec<String> = alarms
            .iter()
            .map(|(_, a)| format!("arn:aws:cloudwatch:{region}:{account}:alarm:{a}"))
            .collect();
        arns.sort();
        arns.dedup();
        statements.push(json!({"Sid": "WatchAlarms", "Effect": "Allow",
            "Action": ALARM_ACTIONS, "Resource": arns}));
    }
    if deploy.select.is_some() {
        statements.push(json!({"Sid": "SelectFunctionsByTag", "Effect": "Allow",
            "Action": SELECT_ACTIONS, "Resource": "*"}));
    }
    if let Some(grants) = registry {
        statements.extend(grants.statements);
    }
    Policy(json!({"Version": "2012-10-17", "Statement": statements}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `get_function` → `GetFunction`.
    fn action(op: &str) -> String {
        op.split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map_or(String::new(), |f| {
                    f.to_ascii_uppercase().to_string() + c.as_str()
                })
            })
            .collect()
    }

    /// The SDK operations called in a source file: `.sdk.` then `op(`.
    fn calls(file: &str, receiver: &str) -> Vec<String> {
        let path = format!("{}/src/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap_or_default();
        let squeezed: String = code.split_whitespace().collect::<Vec<_>>().join("");
        let mut out = Vec::new();
        for piece in squeezed.split(receiver).skip(1) {
            let op: String = piece
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !op.is_empty() && piece[op.len()..].starts_with('(') {
                out.push(action(&op));
            }
        }
        out
    }

    /// Every action imprint may ask for (with an alias, alarms, `[deploy] select`,
    /// `--create-repo` and gc), sorted: the README lists exactly these.
    fn every_action() -> Vec<&'static str> {
        let mut all: Vec<&str> = FUNCTION_ACTIONS
            .iter()
            .chain(&ALIAS_ACTIONS)
            .chain(&ALARM_ACTIONS)
            .chain(&SELECT_ACTIONS)
            .chain(&GC_FUNCTION_ACTIONS)
            .chain(&GC_REGION_LIST)
            .chain(&GC_REGION_READ)
            .copied()
            .chain(IamGrants::every_action())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    #[test]
    fn the_readme_lists_every_action_the_policy_can_hold() {
        let path = format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(path).unwrap();
        let block = readme
            .split("<!-- iam-actions -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- /iam-actions -->").next())
            .expect("the README's iam-actions block");
        let listed: Vec<&str> = block
            .split(['`', ',', ' ', '\n'])
            .filter(|w| w.contains(':'))
            .collect();
        assert_eq!(listed, every_action(), "README.md's iam-actions block");
    }

    #[test]
    fn every_aws_call_in_the_code_is_in_the_policy() {
        let dir = format!("{}/src/lambda", env!("CARGO_MANIFEST_DIR"));
        // STS (identity.rs: GetCallerIdentity needs no grant) and CloudWatch (alarms.rs,
        // below) live in lambda/ too.
        let files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f != "identity.rs" && f != "alarms.rs")
            .map(|f| format!("lambda/{f}"))
            .collect();
        let lambda: Vec<String> = files.iter().flat_map(|f| calls(f, ".sdk.")).collect();
        assert!(lambda.contains(&"PublishVersion".to_string()), "{lambda:?}");
        assert!(
            lambda.contains(&"UpdateFunctionCode".to_string()),
            "{lambda:?}"
        );
        let granted: Vec<&str> = FUNCTION_ACTIONS
            .iter()
            .chain(&SELECT_ACTIONS)
            .chain(&ALIAS_ACTIONS)
            .chain(&GC_FUNCTION_ACTIONS)
            .copied()
            .collect();
        for call in &lambda {
            // The SDK's `invoke` is IAM's `lambda:InvokeFunction`.
            let call = if call == "Invoke" {
                "InvokeFunction"
            } else {
                call
            };
            assert!(
                granted.contains(&format!("lambda:{call}").as_str()),
                "lambda:{call} is called but not in the policy"
            );
        }
        let cloudwatch = calls("lambda/alarms.rs", ".sdk.");
        assert_eq!(cloudwatch, ["DescribeAlarms"]);
        for call in &cloudwatch {
            assert!(ALARM_ACTIONS.contains(&format!("cloudwatch:{call}").as_str()));
        }
        let mut ecr = calls("registry/ecr.rs", ".sdk.");
        ecr.extend(calls("registry/delete.rs", ".sdk."));
        assert!(ecr.contains(&"BatchDeleteImage".to_string()), "{ecr:?}");
        assert!(
            ecr.contains(&"GetAuthorizationToken".to_string()),
            "{ecr:?}"
        );
        let granted = IamGrants::every_action();
        for call in &ecr {
            assert!(
                granted.contains(&format!("ecr:{call}").as_str()),
                "ecr:{call} is called but not in the policy"
            );
        }
    }
}
