"""Execute a Plan: journal first, then runtime writes and files; undo on failure; rollback.

The journal (TOML) records the previous runtime values and the previous contents (or
absence) of every file before anything changes, and is fsynced. A failure half-way restores
what was already changed, newest first, and raises ApplyFailed (exit 4).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
import tomllib
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import tomli_w

from tunekit.errors import NotPermitted, TunekitError, UsageError
from tunekit.plan import SYSCTL_CONF, SYSCTL_DIRS, Change, FileWrite, Plan

JOURNAL = "journal.toml"
LOCK_WAIT_SECONDS = float(os.environ.get("TUNEKIT_LOCK_WAIT", "5"))

_KERNEL_REASONS = {
    errno.EINVAL: "EINVAL: the kernel rejected the value (out of range or malformed)",
    errno.EPERM: "EPERM: the kernel does not permit this value here (inside a child network "
                 "namespace some values are the host's to choose) or the file is immutable",
    errno.EACCES: "EACCES: permission denied",
    errno.EROFS: "EROFS: read-only file system",
    errno.ENOENT: "ENOENT: the key does not exist on this kernel (or its module is not loaded)",
}


class ApplyFailed(TunekitError):
    exit_code = 4


_RLIMIT_EPERM = ("EPERM: not permitted (raising a hard limit needs CAP_SYS_RESOURCE; a hard "
                 "limit above fs.nr_open is refused)")


def kernel_reason(err: OSError, rlimit: bool = False) -> str:
    if rlimit and err.errno == errno.EPERM:
        return _RLIMIT_EPERM
    return _KERNEL_REASONS.get(err.errno, f"{errno.errorcode.get(err.errno, '?')}: {err.strerror}")


# --- reading what is there -------------------------------------------------------------


def read_files(root: Path, paths: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for rel in paths:
        try:
            out[rel] = (root / rel).read_text()
        except (FileNotFoundError, NotADirectoryError):
            out[rel] = None  # writing it will fail, inside the transaction
    return out


def sysctl_search_path(root: Path) -> dict[str, str]:
    """Every sysctl file the boot reads, relative path -> contents."""
    out = {}
    for d in SYSCTL_DIRS:
        base = root / d
        if base.is_dir():
            for p in sorted(base.glob("*.conf")):
                try:
                    out[f"{d}/{p.name}"] = p.read_text()
                except OSError:
                    continue
    try:
        out[SYSCTL_CONF] = (root / SYSCTL_CONF).read_text()
    except OSError:
        pass
    return out


# --- writing ---------------------------------------------------------------------------


def atomic_write(path: Path, content: str, mode: int = 0o644) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tunekit-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, content.encode())
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_kernel(path: Path, value: str) -> str:
    """Write one /proc/sys or /sys/module value and read back what the kernel kept."""
    with open(path, "w") as f:
        f.write(value + "\n")
    return " ".join(path.read_text().split())


def set_nofile(pid: int, value: str) -> None:
    import psutil

    soft, hard = (int(v) for v in value.split())
    try:
        psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, (soft, hard))
    except psutil.NoSuchProcess as err:
        raise OSError(errno.ESRCH, f"pid {pid} is gone") from err
    except psutil.AccessDenied as err:
        raise OSError(errno.EPERM, "not permitted") from err


# --- lock and journal ------------------------------------------------------------------


@contextmanager
def locked(state_dir: Path, wait: float = LOCK_WAIT_SECONDS):
    """One apply or rollback at a time: a second one waits briefly, then refuses."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise NotPermitted(f"another tunekit apply or rollback is running (pid "
                                       f"{holder}); waited {wait:g} s",
                                       f"try again when it ends; lock: {state_dir / 'lock'}")
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_journal(state_dir: Path) -> dict | None:
    path = state_dir / JOURNAL
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: unreadable journal: {err}",
                         "inspect it by hand; tunekit will not guess what to undo") from err


def _journal_doc(plan: Plan) -> dict:
    return {
        "profile": plan.profile,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "root": plan.root,
        "runtime": [{"key": c.key, "kind": c.kind, "path": c.path, "old": c.old, "new": c.new}
                    for c in plan.changes],
        "files": [{"path": f.path, "existed": f.old is not None, "old": f.old or "",
                   "new": f.content} for f in plan.files if f.content != f.old],
    }


# --- apply and undo --------------------------------------------------------------------


def _do_change(root: Path, c: Change, value: str) -> None:
    if c.kind == "rlimit":
        set_nofile(int(c.path.split()[1]), value)
        return
    kept = write_kernel(root / c.path, value)
    if kept != value:
        raise OSError(errno.EINVAL, f"the kernel kept {kept!r} instead of {value!r}")


def _missing_dirs(root: Path, rel: str) -> list[str]:
    """Parent directories of `rel` that do not exist yet, deepest first."""
    out = []
    parent = Path(rel).parent
    while str(parent) not in (".", "/") and not (root / parent).exists():
        out.append(str(parent))
        parent = parent.parent
    return out


def _undo_file(root: Path, f: dict) -> None:
    if f["existed"]:
        atomic_write(root / f["path"], f["old"])
    else:
        (root / f["path"]).unlink(missing_ok=True)
    for d in f.get("created_dirs", []):  # deepest first; only if still empty
        try:
            (root / d).rmdir()
        except OSError:
            break


def execute(plan: Plan, root: Path, state_dir: Path) -> dict:
    """Journal, then change; on failure restore what changed and raise ApplyFailed."""
    doc = _journal_doc(plan)
    for f in doc["files"]:  # recorded before anything is created, so undo can remove them
        f["created_dirs"] = _missing_dirs(root, f["path"])
    previous = read_journal(state_dir)
    archived = None
    if previous is not None:  # keep the earlier apply's journal beside the new one
        stamp = str(previous.get("created", "earlier")).replace(":", "")
        archived = state_dir / f"journal-{stamp}.toml"
        (state_dir / JOURNAL).rename(archived)
    atomic_write(state_dir / JOURNAL, tomli_w.dumps(doc))
    done_changes: list[Change] = []
    done_files: list[dict] = []
    try:
        for c in plan.changes:
            try:
                _do_change(root, c, c.new)
            except OSError as err:
                raise ApplyFailed(f"{c.key}: could not write {c.new!r}: "
                                  f"{kernel_reason(err, c.kind == 'rlimit')}"
                                  if err.errno in _KERNEL_REASONS else
                                  f"{c.key}: could not write {c.new!r}: {err.strerror or err}")
            done_changes.append(c)
        for f in doc["files"]:
            try:
                atomic_write(root / f["path"], f["new"])
            except OSError as err:
                raise ApplyFailed(f"/{f['path']}: could not write: {kernel_reason(err)}")
            done_files.append(f)
    except ApplyFailed as failure:
        problems = _restore(root, done_changes, done_files)
        (state_dir / JOURNAL).unlink(missing_ok=True)
        if archived is not None:  # the earlier apply is still in effect: keep it undoable
            archived.rename(state_dir / JOURNAL)
        failure.hint = ("everything already changed was restored" if not problems else
                        "could not restore: " + "; ".join(problems))
        raise
    return doc


def _restore(root: Path, changes: list[Change], files: list[dict]) -> list[str]:
    """Undo newest first; one item that cannot be restored is reported, the rest go on."""
    problems = []
    for f in reversed(files):
        try:
            _undo_file(root, f)
        except OSError as err:
            problems.append(f"/{f['path']}: {err.strerror}")
    for c in reversed(changes):
        try:
            _do_change(root, c, c.old)
        except OSError as err:
            problems.append(f"{c.key} back to {c.old!r}: {err.strerror or err}")
    return problems


def rollback(root: Path, state_dir: Path) -> tuple[dict | None, list[str]]:
    """Restore the last apply. Returns (journal or None when nothing to undo, problems)."""
    doc = read_journal(state_dir)
    if doc is None:
        return None, []
    changes = [Change(r["key"], r["kind"], r["path"], r["old"], r["new"], "")
               for r in doc.get("runtime", [])]
    problems = _restore(root, changes, doc.get("files", []))
    stamp = str(doc.get("created", "unknown")).replace(":", "")
    (state_dir / JOURNAL).rename(state_dir / f"rolled-back-{stamp}.toml")
    return doc, problems
