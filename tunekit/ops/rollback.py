"""`rollback`: undo the newest apply (after any that a kill left half-done)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tunekit.errors import NotPermitted
from tunekit.ops import audit
from tunekit.output.documents.rollback import Rollback

if TYPE_CHECKING:
    from tunekit.persist.journal import Journal


@dataclass
class RollbackOptions:
    root: Path | None = None
    state_dir: Path | None = None


def rollback(o: RollbackOptions) -> tuple[Rollback, Journal | None, Path]:
    """(the document, the journal undone (None: nothing to undo), the state directory)."""
    from tunekit.persist import undo
    from tunekit.persist.state import StateDir

    base = o.root or Path("/")
    state = audit.state_dir(o.state_dir, o.root)
    if base.resolve() == Path("/") and os.geteuid() != 0:
        raise NotPermitted("rollback changes the kernel: run it as root")
    problems: list[str] = []
    recovered: list[str] = []
    doc = None
    opened = StateDir.open(state, o.root)
    if opened is not None:
        with opened, opened.locked():
            doc, problems, recovered = undo.rollback(base, opened)
    out = Rollback(
        rolled_back=doc is not None,
        profile=doc.profile if doc else None,
        runtime=doc.runtime if doc else [],
        files=[f.path for f in doc.files] if doc else [],
        problems=problems,
        recovered=recovered,
    )
    return out, doc, state


def undoable(o: RollbackOptions) -> list[Journal]:
    """Every apply that rollback, run until nothing is left, would undo, newest first
    (the interrupted ones included); nothing is changed. Each journal is checked as
    rollback checks it (journal.read_journal)."""
    from tunekit.persist.journal import journals, read_journal
    from tunekit.persist.state import StateDir

    base = o.root or Path("/")
    opened = StateDir.open(audit.state_dir(o.state_dir, o.root), o.root)
    if opened is None:
        return []
    with opened:
        return [
            read_journal(opened, name, base)
            for _, status, name in reversed(journals(opened))
            if status in ("pending", "applied")
        ]
