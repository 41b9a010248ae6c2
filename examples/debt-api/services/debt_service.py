"""Business logic: stores debts (in memory here; DynamoDB in a real deployment)."""

import uuid


class DebtService:
    def __init__(self):
        self._debts = {}

    def list(self):
        return list(self._debts.values())

    def add(self, debt):
        debt.id = debt.id or str(uuid.uuid4())
        self._debts[debt.id] = debt
        return debt
