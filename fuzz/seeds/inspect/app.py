import importlib
import os

from pydantic import BaseModel


class Debt(BaseModel):
    amount: int


def codec():
    # Which codec is configured: static reading cannot follow this import.
    return importlib.import_module(os.environ.get("CODEC", "six"))


def handler(event, context):
    return Debt(amount=event.get("amount", 0)).model_dump()
