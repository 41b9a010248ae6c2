"""The debt-management backend on AWS: see infra.py."""

from pathlib import Path

import infra

infra.define(Path(__file__).resolve().parent.parent)
