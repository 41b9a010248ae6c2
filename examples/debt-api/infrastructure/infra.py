"""The resources: the ECR repository, one IAM role, a Lambda function per handler of the one
image with the alias `live` its callers use, an HTTP API whose routes (and authorizer) call
those aliases, and one CloudWatch alarm on the group's errors.

Ownership of the functions' code (config `owner`, the same as [deploy] owner in imprint.toml):
- "imprint": Pulumi creates the functions with the current image and then ignores `image_uri`;
  `imprint deploy` moves them (waited on, verified, journaled, rolled back on failure).
- "pulumi": every `pulumi up` sets `image_uri` from the tag; `imprint deploy` only builds and
  pushes, and `imprint rollback --to TAG` pins config `imageTag`.

The alias `live` (config `alias`) is created once on the function's first version; with owner
"imprint", Pulumi ignores its version and routing afterwards: `imprint deploy` publishes a
version per deploy and moves the alias (all at once, blue/green, canary or linear, the alarm
`debt-management-errors` watched). imprint.toml's [deploy] alias and alarms name the same.
"""

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws

import image_tag

PREFIX = "debt-management"
REPOSITORY = "debt-management-backend"
# Function key → handler (the image's CMD override) and whether its route needs the token.
HANDLERS = {
    "healthz": "handlers.healthz.handler",
    "list-debts": "handlers.debts.list_handler",
    "create-debt": "handlers.debts.create_handler",
    "authorizer": "authorizer.handler",
}
ROUTES = [
    ("GET /healthz", "healthz", False),
    ("GET /debts", "list-debts", True),
    ("POST /debts", "create-debt", True),
]


def define(project_dir: Path) -> dict:
    config = pulumi.Config()
    owner = config.get("owner") or "imprint"
    if owner not in ("imprint", "pulumi"):
        raise ValueError(f'config owner is "{owner}"; use "imprint" or "pulumi"')

    repository = aws.ecr.Repository(
        "backend",
        name=REPOSITORY,
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
    )
    pulumi.export("ecr_repository_url", repository.repository_url)
    # ECR's lifecycle rules cannot see which images a function, a version, an alias or a
    # rollback still needs, so they touch only untagged images here (left by interrupted
    # pushes). `imprint gc` removes the rest: it knows every reference.
    lifecycle = aws.ecr.LifecyclePolicy(
        "untagged",
        repository=repository.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "untagged images only; imprint gc handles the rest",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 7,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    if config.get_bool("bootstrap"):
        # The first deploy: only the repository, so the first image can be pushed.
        return {"repository": repository, "lifecycle": lifecycle}

    tag = image_tag.resolve(config.get("imageTag"), project_dir)
    if not pulumi.runtime.is_dry_run():
        check_pushed(tag, owner)
    image_uri = repository.repository_url.apply(lambda url: f"{url}:{tag.tag}")

    role = aws.iam.Role(
        "lambda",
        name=f"{PREFIX}-lambda",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    aws.iam.RolePolicyAttachment(
        "lambda-logs",
        role=role.name,
        policy_arn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )

    options = function_options(owner)
    alias_name = config.get("alias") or "live"
    functions = {
        key: aws.lambda_.Function(
            key,
            name=f"{PREFIX}-{key}-function",
            package_type="Image",
            image_uri=image_uri,
            image_config={"commands": [handler]},
            architectures=["x86_64"],
            role=role.arn,
            memory_size=256,
            timeout=10,
            environment={"variables": authorizer_env(config)} if key == "authorizer" else None,
            publish=True,
            opts=options,
        )
        for key, handler in HANDLERS.items()
    }
    aliases = {
        key: aws.lambda_.Alias(
            key,
            name=alias_name,
            function_name=function.name,
            function_version=function.version,
            opts=alias_options(owner),
        )
        for key, function in functions.items()
    }
    alarm = errors_alarm(functions, alias_name)

    api = aws.apigatewayv2.Api("api", name=f"{PREFIX}-api", protocol_type="HTTP")
    authorizer = aws.apigatewayv2.Authorizer(
        "token",
        api_id=api.id,
        authorizer_type="REQUEST",
        authorizer_uri=aliases["authorizer"].invoke_arn,
        identity_sources=["$request.header.Authorization"],
        authorizer_payload_format_version="2.0",
        enable_simple_responses=True,
    )
    invokers = {"authorizer"}
    for route_key, key, protected in ROUTES:
        integration = aws.apigatewayv2.Integration(
            key,
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_uri=aliases[key].invoke_arn,
            payload_format_version="2.0",
        )
        aws.apigatewayv2.Route(
            key,
            api_id=api.id,
            route_key=route_key,
            target=integration.id.apply(lambda i: f"integrations/{i}"),
            authorization_type="CUSTOM" if protected else "NONE",
            authorizer_id=authorizer.id if protected else None,
        )
        invokers.add(key)
    for key in sorted(invokers):
        aws.lambda_.Permission(
            f"{key}-from-api",
            action="lambda:InvokeFunction",
            function=functions[key].name,
            qualifier=aliases[key].name,
            principal="apigateway.amazonaws.com",
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*"),
        )
    stage = aws.apigatewayv2.Stage("default", api_id=api.id, name="$default", auto_deploy=True)

    pulumi.export("image_tag", tag.tag)
    pulumi.export("image_uri", image_uri)
    pulumi.export("api_url", stage.invoke_url)
    pulumi.export("function_names", [f.name for f in functions.values()])
    pulumi.export("alias", alias_name)
    pulumi.export("errors_alarm", alarm.name)
    return {
        "repository": repository,
        "functions": functions,
        "aliases": aliases,
        "alarm": alarm,
        "api": api,
        "stage": stage,
        "image_uri": image_uri,
        "tag": tag,
    }


def function_options(owner: str) -> pulumi.ResourceOptions:
    """With owner = imprint, Pulumi sets the image only when it creates a function; imprint
    moves it from then on, and `pulumi up` never moves it back."""
    return pulumi.ResourceOptions(ignore_changes=["image_uri"] if owner == "imprint" else None)


def alias_options(owner: str) -> pulumi.ResourceOptions:
    """With owner = imprint, the alias is created on the first version and imprint moves it
    (its version and traffic weights) from then on."""
    ignored = ["function_version", "routing_config"] if owner == "imprint" else None
    return pulumi.ResourceOptions(ignore_changes=ignored)


def errors_alarm(functions: dict, alias_name: str) -> aws.cloudwatch.MetricAlarm:
    """One alarm on the errors of every function's alias, summed per minute: any error while
    a deploy shifts traffic puts every alias back."""
    queries = [
        {
            "id": f"e{i}",
            "return_data": False,
            "metric": {
                "namespace": "AWS/Lambda",
                "metric_name": "Errors",
                "period": 60,
                "stat": "Sum",
                "dimensions": {
                    "FunctionName": function.name,
                    "Resource": function.name.apply(lambda n: f"{n}:{alias_name}"),
                },
            },
        }
        for i, function in enumerate(functions.values())
    ]
    ids = ", ".join(q["id"] for q in queries)
    queries.append({"id": "errors", "expression": f"SUM([{ids}])", "label": "errors", "return_data": True})
    return aws.cloudwatch.MetricAlarm(
        "errors",
        name=f"{PREFIX}-errors",
        comparison_operator="GreaterThanOrEqualToThreshold",
        threshold=1,
        evaluation_periods=1,
        treat_missing_data="notBreaching",
        metric_queries=queries,
        alarm_description="Errors of any debt-management function through its alias; imprint deploy puts every alias back when it fires.",
    )


def check_pushed(tag: image_tag.ImageTag, owner: str) -> None:
    """Outside preview, refuse a tag the repository lacks: a function must never point at an
    image that was never pushed. With owner "imprint", Pulumi gives the image only to the
    functions it creates, so unpushed code edits do not stop an infrastructure-only update
    (`make deploy-infra`); a function created now would fail, which the warning says."""
    if tag.pushed is True:
        return
    if tag.pushed is False:
        if owner == "imprint":
            pulumi.log.warn(image_tag.unpushed_warning(tag, REPOSITORY))
            return
        raise RuntimeError(image_tag.refusal(tag, REPOSITORY))
    # ListImages, not GetImage: a missing tag is an answer here, not a failed invoke.
    listed = aws.ecr.get_images(repository_name=REPOSITORY)
    if not any(i.image_tag == tag.tag for i in listed.image_ids or []):
        raise RuntimeError(image_tag.refusal(tag, REPOSITORY))


def authorizer_env(config: pulumi.Config) -> dict:
    token = config.get_secret("apiToken")
    return {"API_TOKEN": token} if token is not None else {}
