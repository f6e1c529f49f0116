"""The state directory's lock: one apply or rollback at a time, and a state directory that
is ours (a real directory owned by us, writable by no one else)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError
from tunekit.persist.journal import JOURNALS

LOCK = "lock"
DEFAULT_LOCK_WAIT = 5.0


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


def trusted_dir(path: Path) -> None:
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


def ensure_state(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (path / JOURNALS).mkdir(mode=0o700, exist_ok=True)
    except OSError as err:
        raise NotPermitted(
            f"cannot create the state directory {path}: {err.strerror or err}"
        ) from err
    trusted_dir(path)
    trusted_dir(path / JOURNALS)


@contextmanager
def locked(state_dir: Path, wait: float | None = None):
    """One apply or rollback at a time: a second one waits briefly, then refuses."""
    wait = lock_wait() if wait is None else wait
    ensure_state(state_dir)
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
