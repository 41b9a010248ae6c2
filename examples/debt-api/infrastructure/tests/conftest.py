"""Fixtures for the Pulumi program's tests: Pulumi's mocks (no engine), a copy of the example
tree per test, and imprint pointed at the local registry that scripts/test-env starts."""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pulumi
import pytest

INFRA = Path(__file__).resolve().parent.parent
EXAMPLE = INFRA.parent
sys.path.insert(0, str(INFRA))

def need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through scripts/test (it starts the servers)")
    return value


class Mocks(pulumi.runtime.Mocks):
    """Resources echo their inputs plus the outputs the program reads. ECR's ListImages is
    answered by the real local registry, so "pushed" means pushed."""

    def __init__(self, registry: str, prefix: str):
        self.registry = registry
        self.prefix = prefix
        # (type, name, inputs) of every resource the program made, in order.
        self.created: list = []

    def repository_path(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.created.append((args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        region, account = "us-east-1", "123456789012"
        if args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{self.registry}/{self.repository_path(args.inputs['name'])}"
        elif args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{account}:role/{args.inputs['name']}"
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{args.inputs['name']}"
            outputs["arn"] = arn
            outputs["invokeArn"] = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
            outputs["version"] = "1" if args.inputs.get("publish") else "$LATEST"
        elif args.typ == "aws:lambda/alias:Alias":
            arn = f"arn:aws:lambda:{region}:{account}:function:{args.inputs['functionName']}:{args.inputs['name']}"
            outputs["arn"] = arn
            outputs["invokeArn"] = f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        elif args.typ == "aws:apigatewayv2/api:Api":
            outputs["executionArn"] = f"arn:aws:execute-api:{region}:{account}:abc123"
            outputs["apiEndpoint"] = f"https://abc123.execute-api.{region}.amazonaws.com"
        elif args.typ == "aws:apigatewayv2/stage:Stage":
            outputs["invokeUrl"] = f"https://abc123.execute-api.{region}.amazonaws.com/"
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:ecr/getImages:getImages":
            path = self.repository_path(args.args["repositoryName"])
            try:
                with urllib.request.urlopen(f"http://{self.registry}/v2/{path}/tags/list") as answer:
                    tags = json.load(answer).get("tags") or []
            except urllib.error.HTTPError as err:
                if err.code != 404:
                    raise
                tags = []
            return {"imageIds": [{"imageTag": t} for t in tags], "repositoryName": args.args["repositoryName"]}
        raise Exception(f"the program called {args.token}, which these mocks do not answer")


class Program:
    """The example tree copied to a temp folder, and a way to run the Pulumi program on it."""

    def __init__(self, root: Path, mocks: Mocks):
        self.root = root
        self.mocks = mocks

    @property
    def repository_url(self) -> str:
        return f"{self.mocks.registry}/{self.mocks.repository_path('debt-management-backend')}"

    def imprint(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [os.environ["IMPRINT"], *args], cwd=self.root, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done

    def run(self, config: dict | None = None, preview: bool = False) -> dict:
        """Runs the program under the mocks; the resolved function image URIs and exports."""
        import infra

        pulumi.runtime.set_mocks(self.mocks, project="debt-api", stack="test", preview=preview)
        pulumi.runtime.set_all_config({f"debt-api:{k}": v for k, v in (config or {}).items()})
        seen: dict = {}

        @pulumi.runtime.test
        def program():
            resources = infra.define(self.root)
            seen["resources"] = resources
            if "functions" not in resources:
                return resources["repository"].repository_url.apply(
                    lambda url: seen.update(repository_url=url)
                )
            functions = resources["functions"]
            return pulumi.Output.all(*[f.image_uri for f in functions.values()]).apply(
                lambda uris: seen.update(uris=dict(zip(functions, uris)))
            )

        program()
        return seen


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Program:
    registry = need("IMPRINT_TEST_REGISTRY")
    base, uv_image = need("IMPRINT_TEST_PYTHON_BASE"), need("IMPRINT_TEST_UV_IMAGE")
    need("IMPRINT")
    root = tmp_path / "debt-api"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("infrastructure", ".venv", "__pycache__"))
    mocks = Mocks(registry, f"pulumi-{uuid.uuid4().hex[:8]}")
    config = (root / "imprint.toml").read_text()
    # Nothing can be pulled here: the example is built on the bases test-env made, natively
    # (its builder), its dependencies installed by test-env's uv from its wheel cache.
    args = f'build_args = {{ BASE = "{base}", UV_IMAGE = "{uv_image}" }}\n'
    (root / "imprint.toml").write_text(config.replace("[image]\n", f"[image]\n{args}", 1))
    monkeypatch.setenv("IMPRINT_UV", need("IMPRINT_TEST_UV"))
    monkeypatch.setenv("UV_CACHE_DIR", need("IMPRINT_TEST_UV_CACHE"))
    monkeypatch.setenv("IMPRINT_REPOSITORY", f"{registry}/{mocks.repository_path('debt-management-backend')}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("IMPRINT_DOCKER", need("IMPRINT_TEST_DOCKER_CLI"))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return Program(root, mocks)
