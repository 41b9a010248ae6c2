"""API Gateway response helpers."""

import json


def _response(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def ok(body):
    return _response(200, body)


def created(body):
    return _response(201, body)


def bad_request(message):
    return _response(400, {"error": message})


def not_found():
    return _response(404, {"error": "not found"})
