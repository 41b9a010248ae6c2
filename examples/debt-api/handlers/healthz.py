"""GET /healthz"""

from utils.responses import ok


def handler(event, context):
    return ok({"status": "ok"})
