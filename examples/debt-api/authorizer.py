"""Lambda authorizer for the HTTP API: a bearer token, either a JWT signed with JWT_SECRET
(HS256, checked by PyJWT, with its expiry) or the static API_TOKEN compared in constant time."""

import hmac
import os

import jwt


def handler(event, context):
    header = (event.get("headers") or {}).get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    return {"isAuthorized": _valid_jwt(token) or _valid_static(token)}


def _valid_jwt(token):
    secret = os.environ.get("JWT_SECRET", "")
    if not secret or token.count(".") != 2:
        return False
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.InvalidTokenError:
        return False
    return True


def _valid_static(token):
    expected = os.environ.get("API_TOKEN", "")
    return bool(expected) and hmac.compare_digest(token, expected)
