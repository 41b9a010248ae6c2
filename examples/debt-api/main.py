"""Entry point: routes an API Gateway (HTTP API) event to its handler."""

from handlers import debts, healthz
from utils.responses import not_found

ROUTES = {
    ("GET", "/healthz"): healthz.handler,
    ("GET", "/debts"): debts.list_debts,
    ("POST", "/debts"): debts.create_debt,
}


def handler(event, context):
    http = event.get("requestContext", {}).get("http", {})
    route = ROUTES.get((http.get("method", "GET"), event.get("rawPath", "/")))
    if route is None:
        return not_found()
    return route(event, context)
