"""The Debt model and its validation."""

from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation


class ValidationError(Exception):
    pass


@dataclass
class Debt:
    debtor: str
    amount: str
    currency: str = "USD"
    id: str | None = None

    @classmethod
    def from_dict(cls, data):
        debtor = str(data.get("debtor", "")).strip()
        if not debtor:
            raise ValidationError("debtor is required")
        try:
            amount = Decimal(str(data.get("amount")))
        except InvalidOperation as err:
            raise ValidationError("amount must be a number") from err
        if amount <= 0:
            raise ValidationError("amount must be positive")
        return cls(debtor=debtor, amount=str(amount), currency=str(data.get("currency", "USD")))

    def to_dict(self):
        return asdict(self)
