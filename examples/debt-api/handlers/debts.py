"""GET /debts and POST /debts"""

import json

from models.debt import Debt, ValidationError
from services.debt_service import DebtService
from utils.responses import bad_request, created, ok

service = DebtService()


def list_debts(event, context):
    return ok({"debts": [d.to_dict() for d in service.list()]})


def create_debt(event, context):
    try:
        debt = Debt.from_dict(json.loads(event.get("body") or "{}"))
    except (ValueError, ValidationError) as err:
        return bad_request(str(err))
    return created(service.add(debt).to_dict())


# One function per handler: the image config picks these through CMD.
def list_handler(event, context):
    return list_debts(event, context)


def create_handler(event, context):
    return create_debt(event, context)
