"""Putting back what an apply changed: after a failure, after a kill (recover), and on
request (rollback, one apply at a time, newest first).

An item that cannot be restored is reported and the rest go on; a journal with such an
item is kept, not retired, so that another try can finish it. rollback restores only what
still holds what the apply wrote (or a file that is gone: nothing to clobber): a file or
value changed since (by another apply — one with another state directory, say — or by
hand) is named and left as it is, and an item already back to what it was is skipped.
Recovery after a kill restores unconditionally: the apply was cut off between any two
writes.
"""

from __future__ import annotations

from pathlib import Path

from tunekit.host.rootfs import FileState, Root
from tunekit.persist import writers
from tunekit.persist.executor import Stepped, step, write_runtime
from tunekit.persist.journal import FileEntry, Journal, RuntimeEntry, journal_name, journals
from tunekit.persist.journal import read_journal as read
from tunekit.persist.state import JOURNALS, StateDir
from tunekit.persist.writers.runtime import RUNTIME

RESTORE_ERRORS = (OSError, ValueError, OverflowError)  # one item's failure, never a crash
CHANGED = (
    "changed since this apply (by a later apply, perhaps one with another state directory, "
    "or by hand): left as it is"
)


def _same(a: FileState, b: FileState) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "symlink":
        return a.target == b.target
    return a.kind == "absent" or a.data == b.data


def _file_now(root: Root, f: FileEntry) -> str:
    """'before' (already restored), 'new' (what the apply wrote, or nothing: restoring
    cannot clobber anything) or 'changed' (something else is there now)."""
    now = root.state(f.path)
    if _same(now, f.before.state()):
        return "before"
    if now.kind == "absent" or (now.kind == "file" and now.data == f.new.encode()):
        return "new"
    return "changed"


def _runtime_now(root: Root, r: RuntimeEntry) -> str:
    if RUNTIME.verify(root, r.kind, r.path, r.old):
        return "before"
    return "new" if RUNTIME.verify(root, r.kind, r.path, r.new) else "changed"


def undo(root: Root, doc: Journal, upto_runtime: int | None = None, verify: bool = False):
    """Put back what the journal recorded, newest first; one item that cannot be restored
    is reported and the rest go on. Temp files a killed apply left are removed. With
    `verify` (rollback), only items that still hold what the apply wrote are restored."""
    problems = []
    for f in reversed(doc.files):
        try:
            now = _file_now(root, f) if verify else "new"
            if now == "changed":
                problems.append(f"/{f.path}: {CHANGED}")
            elif now == "new":
                writers.writer_of(f.path).undo(root, f.path, f.before.state())
        except RESTORE_ERRORS as err:
            problems.append(f"/{f.path}: {getattr(err, 'strerror', None) or err}")
    for d in doc.created_dirs:  # deepest first; only if empty
        root.rmdir(d)
    runtime = doc.runtime if upto_runtime is None else doc.runtime[:upto_runtime]
    for r in reversed(runtime):
        try:
            now = _runtime_now(root, r) if verify else "new"
            if now == "changed":
                problems.append(f"{r.key}: not {r.new!r} now: {CHANGED}")
            elif now == "new":
                write_runtime(root, r, r.old)
        except RESTORE_ERRORS as err:
            problems.append(f"{r.key} back to {r.old!r}: {getattr(err, 'strerror', None) or err}")
    return problems


def recover(root: Path, state: StateDir) -> tuple[list[str], list[str]]:
    """Undo every apply that was killed before it finished (a pending journal):
    (what was recovered, for the user to read; what could not be restored). A pending
    journal with a problem is kept for another try."""
    out, problems = [], []
    for number, status, name in reversed(journals(state)):
        if status == "stale":
            step()
            state.unlink(JOURNALS, name)
            continue
        if status != "pending":
            continue
        doc = read(state, name, root)
        with Stepped(root) as r:
            left = undo(r, doc)
        if left:
            problems += left
            out.append(f"could not fully undo an interrupted apply of {doc.profile}: kept {name}")
            continue
        _retire(state, number, name)
        out.append(f"undid an apply of {doc.profile} from {doc.created} that was interrupted")
    with state.root() as s:
        s.clean_temps(JOURNALS)
    return out, problems


def _retire(state: StateDir, number: int, name: str) -> None:
    step()
    state.rename(JOURNALS, name, journal_name(number, "rolled-back"))


def rollback(root: Path, state: StateDir) -> tuple[Journal | None, list[str], list[str]]:
    """Undo the newest applied journal. Returns (journal or None when there is nothing to
    undo, problems, what recovery did first). Call under state.locked(). A journal with a
    problem stays applied: the next rollback tries it again."""
    recovered, problems = recover(root, state)
    if problems:
        return None, problems, recovered
    applied = [(n, name) for n, status, name in journals(state) if status == "applied"]
    if not applied:
        return None, [], recovered
    number, name = applied[-1]
    doc = read(state, name, root)
    with Stepped(root) as r:
        problems = undo(r, doc, verify=True)
    if problems:
        problems.append(f"the journal {state.path / JOURNALS / name} is kept for another try")
    else:
        _retire(state, number, name)
    return doc, problems, recovered
