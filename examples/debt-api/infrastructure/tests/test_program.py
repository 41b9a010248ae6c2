"""The Pulumi program under Pulumi's mocks: the image URI every function gets comes from
imprint's tag, follows the content, stays put for unchanged content, yields to config
`imageTag`, and is refused outside preview when the image is not pushed (owner pulumi) or
warned about (owner imprint, where Pulumi only gives new functions their image)."""

import json
import time

import pulumi
import pytest

import infra

HANDLERS = set(infra.HANDLERS)


def test_every_function_runs_the_repository_url_with_imprints_tag(program, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")  # unpushed: the clock would move
    tag = json.loads(program.imprint("tag", "--json").stdout)["tag"]
    seen = program.run(preview=True)
    assert set(seen["uris"]) == HANDLERS
    assert set(seen["uris"].values()) == {f"{program.repository_url}:{tag}"}
    assert seen["resources"]["tag"].source == "imprint tag"


def test_a_source_edit_changes_every_image_uri(program, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")  # only the content may move the tag
    before = program.run(preview=True)["uris"]
    handler = program.root / "handlers" / "debts.py"
    handler.write_text(handler.read_text() + "\n# a change\n")
    after = program.run(preview=True)["uris"]
    assert set(after) == HANDLERS
    for key in HANDLERS:
        assert after[key] != before[key], key
        assert after[key].rsplit("-", 1)[1] != before[key].rsplit("-", 1)[1], "the hash part moved"
    # An edit to an ignored file (README.md, infrastructure/) changes nothing.
    (program.root / "README.md").write_text("notes\n")
    assert program.run(preview=True)["uris"] == after


def test_an_unchanged_pushed_tree_gives_the_same_uri_twice(program):
    program.imprint("build")
    pushed = json.loads(program.imprint("push", "--json").stdout)
    first = program.run()["uris"]
    time.sleep(1.1)  # a new timestamp, were the tag computed again
    second = program.run()["uris"]
    assert first == second
    assert set(first.values()) == {f"{program.repository_url}:{pushed['tag']}"}


def test_config_image_tag_wins_and_must_be_pushed(program):
    program.imprint("build")
    pushed = json.loads(program.imprint("push", "--json").stdout)["tag"]
    # The tree moves on; the pinned (rolled-back) tag still wins.
    handler = program.root / "handlers" / "healthz.py"
    handler.write_text(handler.read_text() + "\n# newer\n")
    seen = program.run(config={"imageTag": pushed})
    assert set(seen["uris"].values()) == {f"{program.repository_url}:{pushed}"}
    assert seen["resources"]["tag"].source == "config imageTag"

    never = "20200101-000000-deadbeef"
    with pytest.raises(Exception, match=f"{never} \\(config imageTag\\) is not pushed"):
        program.run(config={"imageTag": never})
    # A preview may show a tag not pushed yet.
    assert set(program.run(config={"imageTag": never}, preview=True)["uris"].values()) == {
        f"{program.repository_url}:{never}"
    }


def test_an_unpushed_tree_is_refused_outside_preview_when_pulumi_owns_the_image(program):
    with pytest.raises(Exception, match=r"\(imprint tag\) is not pushed.*make update-image"):
        program.run(config={"owner": "pulumi"})
    assert set(program.run(config={"owner": "pulumi"}, preview=True)["uris"]) == HANDLERS


def test_an_unpushed_tree_does_not_stop_an_infrastructure_update_when_imprint_owns_the_image(
    program, monkeypatch
):
    warnings = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warnings.append(message))
    assert set(program.run()["uris"]) == HANDLERS
    assert len(warnings) == 1 and "is not pushed" in warnings[0] and "make deploy" in warnings[0]


def test_bootstrap_creates_only_the_repository_without_asking_imprint(program, monkeypatch):
    monkeypatch.setenv("IMPRINT", "/nonexistent/imprint")
    seen = program.run(config={"bootstrap": "true"})
    assert set(seen["resources"]) == {"repository", "lifecycle"}
    assert seen["repository_url"] == program.repository_url


def test_the_repositorys_lifecycle_rule_expires_untagged_images_only(program, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")
    program.run(preview=True)
    created = program.mocks.created
    policies = [i for t, _, i in created if t == "aws:ecr/lifecyclePolicy:LifecyclePolicy"]
    assert len(policies) == 1
    rules = json.loads(policies[0]["policy"])["rules"]
    assert rules, "a rule for untagged images"
    # Anything tagged (images, index artifacts, journal records) is imprint gc's to judge.
    assert {r["selection"]["tagStatus"] for r in rules} == {"untagged"}


def test_owner_imprint_leaves_image_uri_to_imprint_after_creation():
    assert infra.function_options("imprint").ignore_changes == ["image_uri"]
    assert not infra.function_options("pulumi").ignore_changes


def test_the_api_routes_debts_through_the_authorizer_and_exports_the_outputs(program, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")
    program.run(preview=True)
    created = program.mocks.created
    routes = {i["routeKey"]: i for t, _, i in created if t == "aws:apigatewayv2/route:Route"}
    assert set(routes) == {"GET /healthz", "GET /debts", "POST /debts"}
    assert routes["GET /healthz"]["authorizationType"] == "NONE"
    for key in ("GET /debts", "POST /debts"):
        assert routes[key]["authorizationType"] == "CUSTOM"
        assert routes[key]["authorizerId"] == "token-id"
    functions = {i["name"]: i for t, _, i in created if t == "aws:lambda/function:Function"}
    assert functions["debt-management-authorizer-function"]["imageConfig"]["commands"] == ["authorizer.handler"]
    assert {f["packageType"] for f in functions.values()} == {"Image"}
    permitted = {i["function"] for t, _, i in created if t == "aws:lambda/permission:Permission"}
    assert permitted == set(functions), "API Gateway may invoke every function it routes to"


def test_owner_imprint_leaves_each_alias_to_imprint_after_creation():
    assert infra.alias_options("imprint").ignore_changes == ["function_version", "routing_config"]
    assert not infra.alias_options("pulumi").ignore_changes


def test_callers_use_the_alias_and_one_alarm_watches_every_function(program, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764374400")
    program.run(preview=True)
    created = program.mocks.created
    functions = {i["name"]: i for t, _, i in created if t == "aws:lambda/function:Function"}
    assert all(f["publish"] for f in functions.values()), "the alias needs a first version"
    aliases = {i["functionName"]: i for t, _, i in created if t == "aws:lambda/alias:Alias"}
    assert set(aliases) == set(functions)
    assert {a["name"] for a in aliases.values()} == {"live"}
    assert {a["functionVersion"] for a in aliases.values()} == {"1"}
    alias_arns = {f"arn:aws:lambda:us-east-1:123456789012:function:{n}:live" for n in functions}
    integrations = [i for t, _, i in created if t == "aws:apigatewayv2/integration:Integration"]
    assert len(integrations) == 3
    for uri in [i["integrationUri"] for i in integrations] + [
        i["authorizerUri"] for t, _, i in created if t == "aws:apigatewayv2/authorizer:Authorizer"
    ]:
        assert any(f"functions/{arn}/invocations" in uri for arn in alias_arns), uri
    permissions = [i for t, _, i in created if t == "aws:lambda/permission:Permission"]
    assert {p["qualifier"] for p in permissions} == {"live"}
    alarms = [i for t, _, i in created if t == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    assert [a["name"] for a in alarms] == ["debt-management-errors"]
    queries = alarms[0]["metricQueries"]
    watched = {q["metric"]["dimensions"]["Resource"] for q in queries if "metric" in q}
    assert watched == {f"{n}:live" for n in functions}
    assert [q["expression"] for q in queries if q.get("returnData")] == ["SUM([e0, e1, e2, e3])"]
