"""`apply --json` (and `--dry-run`): the plan, and what applying it did."""

from __future__ import annotations

from tunekit.model.plan import Plan


class Apply(Plan):
    dry_run: bool
    applied: bool
    recovered: list[str] = []  # interrupted applies undone first
    state_dir: str | None = None
    journal: str | None = None  # the journal this apply wrote (rollback undoes it)
