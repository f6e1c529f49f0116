"""Execute a Plan: journal first, then runtime writes and files; undo on failure; rollback.

The state directory holds one journal per apply in journals/, numbered in order and never
overwritten. A journal is written, fsynced, with status "pending" before anything changes:
the previous runtime value of every key and the previous state of every file (its bytes,
mode and owner, or the symlink it was, or its absence), and each directory just before it
is created. When everything is written the journal becomes "applied". A failure restores
what was recorded, newest first, and raises ApplyFailed (exit 4). A pending journal found
later is an apply that was killed: the next apply or rollback undoes it first. rollback
undoes the newest applied journal, one apply at a time.

Every path is written through rootfs.Root by the writers (persist/writers), so nothing can
leave the root; a journal is checked before it is trusted (journal.read_journal).
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import tomli_w

from tunekit.errors import ApplyFailed, NotPermitted
from tunekit.host.rootfs import FileState, Root
from tunekit.model.plan import Plan, RuntimeChange
from tunekit.persist import writers
from tunekit.persist.journal import (
    JOURNALS,
    Before,
    FileEntry,
    Journal,
    RuntimeEntry,
    journals,
    read_journal,
)
from tunekit.persist.writers.runtime import RUNTIME, kernel_reason

CRASH_ENV = "TUNEKIT_CRASH_AT"  # test hook: SIGKILL this process at the Nth write step


# --- crash injection (tests) -------------------------------------------------------------

_steps = 0


def step() -> None:
    """Count one write step; with TUNEKIT_CRASH_AT=N set, die by SIGKILL at step N. The
    kill -9 battery uses it to stop apply between any two writes."""
    global _steps
    _steps += 1
    at = os.environ.get(CRASH_ENV)
    if at and at.isdigit() and int(at) == _steps:
        os.kill(os.getpid(), signal.SIGKILL)


class Stepped(Root):
    """A Root whose every write is a step (see step())."""

    def open(self, rel, flags, mode=0o644):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            step()
        return super().open(rel, flags, mode)

    def put(self, rel, state):
        step()
        super().put(rel, state)
        step()

    def between(self):
        step()

    def makedirs(self, rel_dir, on_create=None):
        def record(sub):
            if on_create:
                on_create(sub)
            step()

        return super().makedirs(rel_dir, record)

    def rmdir(self, rel):
        step()
        return super().rmdir(rel)


def read_files(root: Path, paths: list[str]) -> dict[str, str | None]:
    """Current text of each path under the root (None: absent or not a regular file)."""
    out: dict[str, str | None] = {}
    with Root(root) as r:
        for rel in paths:
            try:
                out[rel] = r.read(rel)
            except OSError:
                out[rel] = None  # writing it will fail, inside the transaction
    return out


class JournalWriter:
    """The journal of one apply, rewritten atomically at each change of what it records."""

    def __init__(self, state_dir: Path, doc: Journal):
        self.state = Stepped(state_dir)
        numbers = [n for n, _, _ in journals(state_dir)]
        self.number = max(numbers, default=0) + 1
        self.doc = doc
        self.rel: str | None = None

    def save(self, status: str) -> None:
        rel = f"{JOURNALS}/{self.number:06d}.{status}.toml"
        self.doc.status = status
        text = tomli_w.dumps(self.doc.model_dump())
        self.state.put(rel, FileState("file", text.encode(), 0o600, os.geteuid(), os.getegid()))
        if self.rel and self.rel != rel:
            self.state.put(self.rel, FileState("absent"))
        self.rel = rel

    def discard(self) -> None:
        if self.rel:
            self.state.put(self.rel, FileState("absent"))
            self.rel = None

    def close(self) -> None:
        self.state.close()


# --- apply, undo, rollback -----------------------------------------------------------------


def _runtime_entry(c: RuntimeChange) -> RuntimeEntry:
    return RuntimeEntry(key=c.key, kind=c.kind, path=c.path, old=c.old, new=c.new)


def _write_runtime(root: Root, r: RuntimeEntry, value: str) -> None:
    if r.kind == "rlimit":
        step()  # a pid's limit is no file: count the step here
    RUNTIME.apply(root, r.kind, r.path, value)


def _undo(root: Root, doc: Journal, upto_runtime: int | None = None) -> list[str]:
    """Put back what the journal recorded, newest first; one item that cannot be restored
    is reported and the rest go on. Temp files a killed apply left are removed."""
    problems = []
    for f in reversed(doc.files):
        try:
            writers.writer_of(f.path).undo(root, f.path, f.before.state())
        except OSError as err:
            problems.append(f"/{f.path}: {err.strerror or err}")
    for d in doc.created_dirs:  # deepest first; only if empty
        root.rmdir(d)
    runtime = doc.runtime if upto_runtime is None else doc.runtime[:upto_runtime]
    for r in reversed(runtime):
        try:
            _write_runtime(root, r, r.old)
        except OSError as err:
            problems.append(f"{r.key} back to {r.old!r}: {err.strerror or err}")
    return problems


def recover(root: Path, state_dir: Path) -> list[str]:
    """Undo every apply that was killed before it finished (a pending journal). Returns what
    was recovered, for the user to read."""
    out = []
    for number, status, path in reversed(journals(state_dir)):
        if status == "stale":
            step()
            path.unlink(missing_ok=True)
            continue
        if status != "pending":
            continue
        doc = read_journal(path, root)
        with Stepped(root) as r:
            problems = _undo(r, doc)
        _retire(state_dir, number, path)
        out.append(
            f"undid an apply of {doc.profile} from {doc.created} that was "
            "interrupted" + (f" (could not restore: {'; '.join(problems)})" if problems else "")
        )
    with Root(state_dir) as s:
        s.clean_temps(JOURNALS)
    return out


def _retire(state_dir: Path, number: int, path: Path) -> None:
    step()
    os.rename(path, state_dir / JOURNALS / f"{number:06d}.rolled-back.toml")
    fd = os.open(state_dir / JOURNALS, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal_of(plan: Plan, r: Root) -> Journal:
    """The journal of `plan` before anything changes: every runtime value and every file's
    state as it is now."""
    doc = Journal(
        profile=plan.profile,
        created=datetime.now(UTC).isoformat(timespec="microseconds"),
        root=str(Path(r.path).resolve()),
        runtime=[_runtime_entry(c) for c in plan.changes],
    )
    try:
        for f in plan.files:
            if f.changed:
                before = Before.of(r.state(f.path))
                doc.files.append(FileEntry(path=f.path, before=before, new=f.content))
    except OSError as err:
        raise ApplyFailed(
            f"{err.filename or '?'}: cannot read what is there: {err.strerror}",
            "nothing was changed",
        ) from err
    return doc


class _WriteFailed(ApplyFailed):
    """A write failed after `done` runtime writes: undo those and every file written."""

    def __init__(self, message: str, done: int):
        super().__init__(message)
        self.done = done


def _change(plan: Plan, r: Root, doc: Journal, journal: JournalWriter) -> None:
    """The runtime writes, then the files. Raises _WriteFailed with the reason."""
    done = 0
    for c in plan.changes:
        try:
            _write_runtime(r, _runtime_entry(c), c.new)
        except OSError as err:
            reason = kernel_reason(err, c.kind == "rlimit")
            raise _WriteFailed(f"{c.key}: could not write {c.new!r}: {reason}", done) from err
        done += 1

    def record(sub: str) -> None:
        doc.created_dirs.insert(0, sub)
        journal.save("pending")

    for f in plan.files:
        if not f.changed:
            continue
        try:
            writers.writer_of(f.path).apply(r, f, record)
        except OSError as err:
            raise _WriteFailed(f"/{f.path}: could not write: {kernel_reason(err)}", done) from err


def execute(plan: Plan, root: Path, state_dir: Path) -> Path:
    """Journal, then change; on failure restore what was recorded and raise ApplyFailed.
    Call under locked(state_dir), after recover(). Returns the journal it wrote (what the
    apply document names, and rollback undoes)."""
    with Stepped(root) as r:
        doc = _journal_of(plan, r)
        journal = JournalWriter(state_dir, doc)
        try:
            try:
                journal.save("pending")
            except OSError as err:
                raise NotPermitted(
                    f"cannot write the journal in {state_dir}: {err.strerror or err}",
                    "nothing was changed",
                ) from err
            try:
                _change(plan, r, doc, journal)
                journal.save("applied")
            except (ApplyFailed, OSError) as err:
                raise _undone(err, r, doc, journal, state_dir) from None
        finally:
            journal.close()
    return state_dir / str(journal.rel)


def _undone(
    err: Exception, r: Root, doc: Journal, journal: JournalWriter, state_dir: Path
) -> ApplyFailed:
    """Undo what was changed after a failure; the error to raise, with what could not be
    put back."""
    failure: ApplyFailed
    if isinstance(err, ApplyFailed):
        failure, done = err, err.done if isinstance(err, _WriteFailed) else len(doc.runtime)
    else:  # the journal itself could not be saved: every runtime write was made
        failure = ApplyFailed(
            f"the journal in {state_dir} could not be updated: {getattr(err, 'strerror', err)}"
        )
        done = len(doc.runtime)
    problems = _undo(r, doc, upto_runtime=done)
    try:
        journal.discard()
    except OSError as gone:
        problems.append(f"journal {journal.rel}: {gone.strerror}")
    failure.hint = (
        "everything already changed was restored"
        if not problems
        else "could not restore: " + "; ".join(problems)
    )
    return failure


def rollback(root: Path, state_dir: Path) -> tuple[Journal | None, list[str], list[str]]:
    """Undo the newest applied journal. Returns (journal or None when there is nothing to
    undo, problems, what recovery did first). Call under locked(state_dir)."""
    recovered = recover(root, state_dir)
    applied = [(n, p) for n, status, p in journals(state_dir) if status == "applied"]
    if not applied:
        return None, [], recovered
    number, path = applied[-1]
    doc = read_journal(path, root)
    with Stepped(root) as r:
        problems = _undo(r, doc)
    _retire(state_dir, number, path)
    return doc, problems, recovered
