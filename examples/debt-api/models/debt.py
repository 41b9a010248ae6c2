"""The Debt model and its validation (pydantic, with its compiled core; EmailStr through
email-validator, which checks syntax only here: no DNS lookups from a Lambda)."""

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError


class ValidationError(Exception):
    """A request the API refuses, with a message for the caller."""


class Debt(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    debtor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    contact: EmailStr | None = None
    id: str | None = None

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
        try:
            return cls.model_validate(data)
        except PydanticValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise ValidationError(f"{field}: {first['msg']}") from None

    def to_dict(self):
        return self.model_dump(mode="json", exclude_none=True)
