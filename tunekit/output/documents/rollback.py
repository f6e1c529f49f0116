"""`rollback --json`: the journal that was undone, and what could not be restored."""

from __future__ import annotations

from tunekit.model.base import Model
from tunekit.persist.journal import RuntimeEntry


class Rollback(Model):
    rolled_back: bool
    profile: str | None
    runtime: list[RuntimeEntry]
    files: list[str]
    problems: list[str]
    recovered: list[str]
