"""Execute a Plan: journal first, then runtime writes and files; undo on failure; rollback.

The state directory holds one journal per apply in journals/, numbered in order and never
overwritten. A journal is written, fsynced, with status "pending" before anything changes:
the previous runtime value of every key and the previous state of every file (its bytes,
mode and owner, or the symlink it was, or its absence), and each directory just before it
is created. When everything is written the journal becomes "applied". A failure restores
what was recorded, newest first, and raises ApplyFailed (exit 4). A pending journal found
later is an apply that was killed: the next apply or rollback undoes it first. rollback
undoes the newest applied journal, one apply at a time.

Every path is written through rootfs.Root, so nothing can leave the root; a journal is
checked before it is trusted (owner, permissions, the root it was written for, and paths
that tunekit itself writes).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import time
import tomllib
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import tomli_w
from pydantic import ValidationError

from tunekit.errors import NotPermitted, TunekitError, UsageError
from tunekit.journals import JOURNALS, Before, FileEntry, Journal, RuntimeEntry, journals
from tunekit.plan import SYSCTL_CONF, SYSCTL_DIRS, Change, Plan
from tunekit.rootfs import FileState, Root

LOCK = "lock"
DEFAULT_LOCK_WAIT = 5.0
CRASH_ENV = "TUNEKIT_CRASH_AT"  # test hook: SIGKILL this process at the Nth write step

_KERNEL_REASONS = {
    errno.EINVAL: "EINVAL: the kernel rejected the value (out of range or malformed)",
    errno.EPERM: "EPERM: the kernel does not permit this value here (inside a child network "
    "namespace some values are the host's to choose) or the file is immutable",
    errno.EACCES: "EACCES: permission denied",
    errno.EROFS: "EROFS: read-only file system",
    errno.ENOENT: "ENOENT: the key does not exist on this kernel (or its module is not loaded)",
}
_RLIMIT_EPERM = (
    "EPERM: not permitted (raising a hard limit needs CAP_SYS_RESOURCE; a hard "
    "limit above fs.nr_open is refused)"
)


class ApplyFailed(TunekitError):
    exit_code = 4


def kernel_reason(err: OSError, rlimit: bool = False) -> str:
    if rlimit and err.errno == errno.EPERM:
        return _RLIMIT_EPERM
    code = err.errno or 0
    return _KERNEL_REASONS.get(code, f"{errno.errorcode.get(code, '?')}: {err.strerror}")


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


class _Stepped(Root):
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


# --- reading what is there -------------------------------------------------------------


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


def sysctl_search_path(root: Path) -> dict[str, str]:
    """Every sysctl file the boot reads, relative path -> contents (regular files only),
    hidden ones included: plan.boot_order decides which apply."""
    from tunekit.bootset import listdir

    out = {}
    with Root(root) as r:
        paths = [f"{d}/{n}" for d in SYSCTL_DIRS for n in listdir(r, d)] + [SYSCTL_CONF]
        for rel in paths:
            try:
                out[rel] = r.read(rel)
            except OSError:
                continue
    return out


def set_nofile(pid: int, value: str) -> None:
    import psutil

    soft, hard = (int(v) for v in value.split())
    try:
        psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, (soft, hard))
    except psutil.NoSuchProcess as err:
        raise OSError(errno.ESRCH, f"pid {pid} is gone") from err
    except psutil.AccessDenied as err:
        raise OSError(errno.EPERM, "not permitted") from err


# --- the state directory: lock and journals ---------------------------------------------


def lock_wait() -> float:
    raw = os.environ.get("TUNEKIT_LOCK_WAIT", "")
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise UsageError(f"TUNEKIT_LOCK_WAIT={raw!r}: expected seconds, 0 to 3600")
    return value


def _trusted_dir(path: Path) -> None:
    """A state directory is ours: a real directory owned by us, writable by no one else."""
    try:
        st = os.lstat(path)
    except OSError as err:
        raise NotPermitted(f"state directory {path}: {err.strerror}") from err
    if not stat.S_ISDIR(st.st_mode):
        raise NotPermitted(
            f"state directory {path} is not a directory"
            + (" (a symlink)" if stat.S_ISLNK(st.st_mode) else "")
        )
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise NotPermitted(
            f"state directory {path} is writable by others or not owned by "
            f"uid {os.geteuid()}: refusing its journals and lock",
            f"chown {os.geteuid()} {path} && chmod 700 {path}",
        )


def _ensure_state(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (path / JOURNALS).mkdir(mode=0o700, exist_ok=True)
    except OSError as err:
        raise NotPermitted(
            f"cannot create the state directory {path}: {err.strerror or err}"
        ) from err
    _trusted_dir(path)
    _trusted_dir(path / JOURNALS)


@contextmanager
def locked(state_dir: Path, wait: float | None = None):
    """One apply or rollback at a time: a second one waits briefly, then refuses."""
    wait = lock_wait() if wait is None else wait
    _ensure_state(state_dir)
    try:
        fd = os.open(
            state_dir / LOCK,
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
            0o600,
        )
    except OSError as err:
        raise NotPermitted(
            f"lock {state_dir / LOCK}: {err.strerror}"
            + (" (a symlink: refused)" if err.errno == errno.ELOOP else "")
        ) from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise NotPermitted(f"lock {state_dir / LOCK} is not a regular file of ours")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise NotPermitted(
                        f"another tunekit apply or rollback is running (pid "
                        f"{holder}); waited {wait:g} s",
                        f"try again when it ends; lock: {state_dir / LOCK}",
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_journal(path: Path, root: Path) -> Journal:
    """A journal, checked before it is trusted: ours (owner, mode), written for this root,
    and naming only what tunekit itself writes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise NotPermitted(
                    f"{path}: not owned by uid {os.geteuid()}, or writable by "
                    "others: tunekit will not act on it"
                )
            data = os.read(fd, 16 << 20)
        finally:
            os.close(fd)
        doc = tomllib.loads(data.decode("utf-8"))
    except NotPermitted:
        raise
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(
            f"{path}: unreadable journal: {err}",
            "inspect it by hand; tunekit will not guess what to undo",
        ) from err
    try:
        journal = Journal.model_validate(doc)
        problem = None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = f"{where}: {first['msg'].removeprefix('Value error, ')}"[:240]
    if problem is None and journal.root != str(Path(root).resolve()):
        problem = f"written for root {journal.root!r}, not {str(Path(root).resolve())!r}"
    if problem:
        raise NotPermitted(
            f"{path}: {problem}: refusing to act on it",
            "inspect it by hand; tunekit only undoes what it wrote itself",
        )
    return journal


class _JournalWriter:
    """The journal of one apply, rewritten atomically at each change of what it records."""

    def __init__(self, state_dir: Path, doc: Journal):
        self.state = _Stepped(state_dir)
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


def _runtime_entry(c: Change) -> RuntimeEntry:
    return RuntimeEntry(key=c.key, kind=c.kind, path=c.path, old=c.old, new=c.new)


def _write_runtime(root: Root, r: RuntimeEntry, value: str) -> None:
    if r.kind == "rlimit":
        step()
        set_nofile(int(r.path.split()[1]), value)
        return
    kept = root.write_kernel(r.path, value)
    if kept != " ".join(value.split()):
        raise OSError(errno.EINVAL, f"the kernel kept {kept!r} instead of {value!r}")


def _undo(root: Root, doc: Journal, upto_runtime: int | None = None) -> list[str]:
    """Put back what the journal recorded, newest first; one item that cannot be restored
    is reported and the rest go on. Temp files a killed apply left are removed."""
    problems = []
    for f in reversed(doc.files):
        try:
            root.put(f.path, f.before.state())
        except OSError as err:
            problems.append(f"/{f.path}: {err.strerror or err}")
        parent = f.path.rpartition("/")[0]
        if parent:
            root.clean_temps(parent)
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
        with _Stepped(root) as r:
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


def execute(plan: Plan, root: Path, state_dir: Path) -> Journal:
    """Journal, then change; on failure restore what was recorded and raise ApplyFailed.
    Call under locked(state_dir), after recover()."""
    r = _Stepped(root)
    doc = Journal(
        profile=plan.profile,
        created=datetime.now(UTC).isoformat(timespec="microseconds"),
        root=str(Path(root).resolve()),
        runtime=[_runtime_entry(c) for c in plan.changes],
    )
    writes = [f for f in plan.files if f.content != f.old]
    try:
        for f in writes:
            before = Before.of(r.state(f.path))
            doc.files.append(FileEntry(path=f.path, before=before, new=f.content))
    except OSError as err:
        r.close()
        raise ApplyFailed(
            f"{err.filename or '?'}: cannot read what is there: {err.strerror}",
            "nothing was changed",
        ) from err
    journal = _JournalWriter(state_dir, doc)
    done = 0
    try:
        journal.save("pending")
    except OSError as err:
        journal.close()
        r.close()
        raise NotPermitted(
            f"cannot write the journal in {state_dir}: {err.strerror or err}", "nothing was changed"
        ) from err
    try:
        for c in plan.changes:
            try:
                _write_runtime(r, _runtime_entry(c), c.new)
            except OSError as err:
                reason = kernel_reason(err, c.kind == "rlimit")
                raise ApplyFailed(f"{c.key}: could not write {c.new!r}: {reason}") from err
            done += 1
        for f in writes:
            parent = f.path.rpartition("/")[0]

            def record(sub: str) -> None:
                doc.created_dirs.insert(0, sub)
                journal.save("pending")

            try:
                r.makedirs(parent, record)
                r.write(f.path, f.content)
            except OSError as err:
                raise ApplyFailed(f"/{f.path}: could not write: {kernel_reason(err)}") from err
        journal.save("applied")
    except (ApplyFailed, OSError) as err:
        failure = (
            err
            if isinstance(err, ApplyFailed)
            else ApplyFailed(
                f"the journal in {state_dir} could not be updated: {err.strerror or err}"
            )
        )
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
        raise failure from None
    finally:
        journal.close()
        r.close()
    return doc


def rollback(root: Path, state_dir: Path) -> tuple[Journal | None, list[str], list[str]]:
    """Undo the newest applied journal. Returns (journal or None when there is nothing to
    undo, problems, what recovery did first). Call under locked(state_dir)."""
    recovered = recover(root, state_dir)
    applied = [(n, p) for n, status, p in journals(state_dir) if status == "applied"]
    if not applied:
        return None, [], recovered
    number, path = applied[-1]
    doc = read_journal(path, root)
    with _Stepped(root) as r:
        problems = _undo(r, doc)
    _retire(state_dir, number, path)
    return doc, problems, recovered
