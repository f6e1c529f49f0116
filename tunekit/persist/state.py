"""The state directory: tunekit's lock, its journals and the local calibration.

It is opened once, as a directory descriptor, and every file in it is opened relative to
that descriptor with O_NOFOLLOW: no name in it can be a symlink to elsewhere. It must be a
directory owned by us and writable by no one else (the journals it holds say what to write
as root).

Where it is: --state-dir, else $TUNEKIT_STATE_DIR, else var/lib/tunekit under the root. The
state directory of a --root (its default, or any --state-dir inside the root) is resolved
inside that root like every other path there (rootfs: openat2 RESOLVE_IN_ROOT), so a
symlink ROOT/var -> /elsewhere/var cannot move it, or its journals, out of the root. A
state directory outside the root is the user's own path; its last component must not be a
symlink.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError

STATE_DIR = "var/lib/tunekit"
JOURNALS = "journals"
LOCK = "lock"
DEFAULT_LOCK_WAIT = 5.0
READ_LIMIT = 16 << 20  # a journal records files of at most 1 MiB each; 16 MiB is plenty
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def locate(given: Path | None = None, root: Path | None = None) -> Path:
    """--state-dir, else $TUNEKIT_STATE_DIR, else var/lib/tunekit under the root."""
    if given is not None and str(given).strip():
        return Path(given)
    if given is not None:
        raise UsageError("--state-dir is empty: give a directory")
    env = os.environ.get("TUNEKIT_STATE_DIR")
    if env:
        return Path(env)
    return (root or Path("/")) / STATE_DIR


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


def _inside(root: Path | None, path: Path) -> str | None:
    """`path` relative to `root` when it lies under it (lexically: symlinks are resolved
    later, inside the root), else None. The live root / has no inside: paths are plain."""
    if root is None or Path(root) == Path("/"):
        return None
    top, here = os.path.abspath(root), os.path.abspath(path)
    if here == top:
        raise NotPermitted(f"state directory {path} is the root itself: refused")
    return here[len(top) + 1 :] if here.startswith(top + os.sep) else None


def _refuse(path: Path, err: OSError) -> NotPermitted:
    if err.errno == errno.ENOTDIR and os.path.islink(path):  # O_NOFOLLOW|O_DIRECTORY
        return NotPermitted(f"state directory {path}: a symlink: refused")
    why = {
        errno.ELOOP: "a symlink: refused",
        errno.ENOTDIR: "not a directory",
        errno.ENAMETOOLONG: "a name too long",
    }.get(err.errno or 0, err.strerror or str(err))
    return NotPermitted(f"state directory {path}: {why}")


def _trusted(fd: int, what: str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise NotPermitted(f"{what} is not a directory")
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise NotPermitted(
            f"{what} is writable by others or not owned by uid {os.geteuid()}: refusing "
            "its journals, lock and calibration",
            f"chown {os.geteuid()} {what} && chmod 700 {what}",
        )


class StateDir:
    """An open state directory (use as a context manager, or close())."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    @classmethod
    def open(cls, path: Path, root: Path | None = None, create: bool = False) -> StateDir | None:
        """The state directory at `path` (None if it does not exist and `create` is
        false). Raises NotPermitted for one that is not a trusted directory."""
        rel = _inside(root, path)
        try:
            fd = cls._open_in_root(root, rel, create) if rel else cls._open_plain(path, create)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _refuse(path, err) from err
        if fd is None:
            return None
        out = cls(path, fd)
        try:
            _trusted(fd, str(path))
            if create:
                out._mkdir(JOURNALS)
        except BaseException:
            out.close()
            raise
        return out

    @staticmethod
    def _open_in_root(root: Path | None, rel: str, create: bool) -> int | None:
        from tunekit.host.rootfs import Root

        with Root(root or Path("/")) as r:
            if create:
                r.makedirs(rel, mode=0o700)
            return r.open(rel, _DIR)

    @staticmethod
    def _open_plain(path: Path, create: bool) -> int | None:
        if create:
            os.makedirs(path.parent, mode=0o755, exist_ok=True)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
        return os.open(path, _DIR | os.O_NOFOLLOW)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StateDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _mkdir(self, name: str) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=self.fd)
        except FileExistsError:
            pass
        fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        try:
            _trusted(fd, str(self.path / name))
        finally:
            os.close(fd)

    # --- reading --------------------------------------------------------------------

    def names(self, sub: str = JOURNALS) -> list[str]:
        """The names in a subdirectory ([] if it is not there)."""
        try:
            fd = os.open(sub, _DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        except FileNotFoundError:
            return []
        except OSError as err:
            raise _refuse(self.path / sub, err) from err
        try:
            _trusted(fd, str(self.path / sub))
            return os.listdir(fd)
        finally:
            os.close(fd)

    def read(self, rel: str) -> bytes:
        """A regular file of ours (owner, not writable by others), never through a symlink
        and never blocking on a FIFO. OSError as the kernel says; NotPermitted if not ours."""
        parent, _, name = rel.rpartition("/")
        dfd = os.open(parent, _DIR | os.O_NOFOLLOW, dir_fd=self.fd) if parent else self.fd
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd
            )
        finally:
            if parent:
                os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(self.path / rel))
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise NotPermitted(
                    f"{self.path / rel}: not owned by uid {os.geteuid()}, or writable by "
                    "others: tunekit will not act on it"
                )
            data = os.read(fd, READ_LIMIT + 1)
        finally:
            os.close(fd)
        if len(data) > READ_LIMIT:
            raise OSError(errno.EFBIG, f"larger than {READ_LIMIT} bytes", str(self.path / rel))
        return data

    # --- writing --------------------------------------------------------------------

    def root(self):
        """A rootfs.Root over this directory: atomic writes (temp file, rename) in it."""
        from tunekit.host.rootfs import Root

        return Root.at(self.fd, self.path)

    def rename(self, sub: str, old: str, new: str) -> None:
        fd = os.open(sub, _DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        try:
            os.rename(old, new, src_dir_fd=fd, dst_dir_fd=fd)
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, sub: str, name: str) -> None:
        fd = os.open(sub, _DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)

    @contextmanager
    def locked(self, wait: float | None = None):
        """One apply or rollback at a time: a second one waits briefly, then refuses."""
        wait = lock_wait() if wait is None else wait
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(LOCK, flags, 0o600, dir_fd=self.fd)
        except OSError as err:
            raise NotPermitted(
                f"lock {self.path / LOCK}: {err.strerror}"
                + (" (a symlink: refused)" if err.errno == errno.ELOOP else "")
            ) from err
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                raise NotPermitted(f"lock {self.path / LOCK} is not a regular file of ours")
            self._acquire(fd, wait)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            except OSError as err:
                raise NotPermitted(
                    f"lock {self.path / LOCK}: cannot record this process: {err.strerror}"
                ) from err
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _acquire(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise NotPermitted(
                        f"another tunekit apply or rollback is running (pid {holder}); "
                        f"waited {wait:g} s",
                        f"try again when it ends; lock: {self.path / LOCK}",
                    ) from None
                time.sleep(0.05)
