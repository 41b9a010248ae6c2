"""Lambda authorizer for the HTTP API: a bearer token compared in constant time."""

import hmac
import os


def handler(event, context):
    expected = os.environ.get("API_TOKEN", "")
    header = (event.get("headers") or {}).get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    authorized = bool(expected) and hmac.compare_digest(token, expected)
    return {"isAuthorized": authorized}
