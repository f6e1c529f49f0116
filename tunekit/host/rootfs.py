"""Files under a root directory, resolved as a chroot would: every write tunekit makes goes
through here, so none can leave the root.

Paths are resolved by the kernel with openat2(2) and RESOLVE_IN_ROOT (Linux 5.6+): an
absolute symlink inside the tree is taken relative to the root (as it would be inside the
image or container the tree is), `..` never climbs above it, and magic links
(/proc/PID/fd/N) are refused. The last component is then acted on through its parent's
directory descriptor: temp files are created O_EXCL|O_NOFOLLOW with unpredictable names,
renamed into place (a symlink at the final name is replaced, never followed), and only
regular files are read or written.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tunekit.errors import NotPermitted
from tunekit.host.procfs import check_rel

SYS_OPENAT2 = 437  # the same number on every architecture (new syscalls share one table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
TEMP_MARK = ".tunekit-tmp-"  # temp files are named .NAME.tunekit-tmp-RANDOM
READ_LIMIT = 1 << 20


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class FileState:
    """What a path was, to put it back exactly: absent, a symlink, or a regular file with
    its bytes, mode and owner."""

    kind: Literal["absent", "file", "symlink"]
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""  # for a symlink


class Root:
    """A directory treated as the root of a filesystem."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise NotPermitted(f"cannot open the root {self.path}: {err.strerror}") from err

    @classmethod
    def at(cls, fd: int, path: Path) -> Root:
        """A Root over an open directory (duplicated: closing the Root leaves `fd` open)."""
        r = cls.__new__(cls)
        r.path, r.fd = Path(path), os.dup(fd)
        return r

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self, rel: str, flags: int, mode: int = 0o644) -> int:
        """openat2(root, rel, RESOLVE_IN_ROOT): a descriptor, or OSError as the kernel says."""
        how = _OpenHow(
            flags | os.O_CLOEXEC,
            mode if flags & os.O_CREAT else 0,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
        fd = _libc.syscall(
            SYS_OPENAT2, self.fd, os.fsencode(check_rel(rel)), ctypes.byref(how), ctypes.sizeof(how)
        )
        if fd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSYS:
                raise NotPermitted(
                    "this kernel has no openat2 (Linux 5.6+): tunekit cannot "
                    "confine its writes to the root, so it writes nothing"
                )
            raise OSError(err, os.strerror(err), str(self.path / rel))
        return fd

    def _parent(self, rel: str) -> tuple[int, str]:
        """(descriptor of the parent directory, last component)."""
        parent, _, name = check_rel(rel).rpartition("/")
        fd = (
            self.open(parent, os.O_RDONLY | os.O_DIRECTORY)
            if parent
            else os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        )
        return fd, name

    # --- reading -------------------------------------------------------------------

    def read(self, rel: str, limit: int = READ_LIMIT) -> str:
        """A regular file's text (never a FIFO or a device: no hang)."""
        fd = self.open(rel, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(self.path / rel))
            data = os.read(fd, limit + 1)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(self.path / rel))
        return data.decode("utf-8", errors="replace")

    def state(self, rel: str) -> FileState:
        """What is at `rel` now (its final component not followed)."""
        try:
            dfd, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            return FileState("absent")  # its directory is not there: neither is it
        try:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return FileState("absent")
            if stat.S_ISLNK(st.st_mode):
                return FileState(
                    "symlink", target=os.readlink(name, dir_fd=dfd), uid=st.st_uid, gid=st.st_gid
                )
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(self.path / rel))
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd
            )
            try:
                data = os.read(fd, READ_LIMIT + 1)
            finally:
                os.close(fd)
            if len(data) > READ_LIMIT:
                raise OSError(errno.EFBIG, f"larger than {READ_LIMIT} bytes", str(self.path / rel))
            return FileState("file", data, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        finally:
            os.close(dfd)

    def readlink(self, rel: str) -> str | None:
        """The target of a symlink at `rel` (not followed), or None for anything else."""
        dfd, name = self._parent(rel)
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            return os.readlink(name, dir_fd=dfd) if stat.S_ISLNK(st.st_mode) else None
        finally:
            os.close(dfd)

    # --- writing -------------------------------------------------------------------

    def write_kernel(self, rel: str, value: str) -> str:
        """Write a /proc/sys or /sys/module value; returns what the file holds after. Under
        a --root these are plain files: one with another hard link (a name elsewhere for
        the same inode, such as a file outside the root) is refused before it is touched,
        and only then truncated (kernel files report size 0 and are never truncated)."""
        fd = self.open(rel, os.O_WRONLY | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(self.path / rel))
            if st.st_nlink > 1:
                raise OSError(errno.EMLINK, "has another hard link: refused", str(self.path / rel))
            if st.st_size:
                os.ftruncate(fd, 0)
            os.write(fd, (value + "\n").encode())
        finally:
            os.close(fd)
        return " ".join(self.read(rel).split())

    def makedirs(self, rel_dir: str, on_create=None, mode: int = 0o755) -> list[str]:
        """Create the missing directories of `rel_dir`, shallowest first, each through its
        parent's descriptor; `on_create(path)` is called before each mkdir (the journal
        records it first). Returns the created ones, deepest first."""
        created: list[str] = []
        parts = check_rel(rel_dir).split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            dfd, name = self._parent(sub)
            try:
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        continue
                    if not stat.S_ISLNK(st.st_mode):
                        raise OSError(errno.ENOTDIR, "not a directory", str(self.path / sub))
                    os.close(self.open(sub, os.O_RDONLY | os.O_DIRECTORY))  # a link to a dir
                    continue
                except FileNotFoundError:
                    pass
                if on_create:
                    on_create(sub)
                os.mkdir(name, mode, dir_fd=dfd)
                created.insert(0, sub)
            finally:
                os.close(dfd)
        return created

    def put(self, rel: str, state: FileState) -> None:
        """Make `rel` be `state`, atomically: a temp file (or link) beside it, renamed over
        it; the directory is fsynced. Owner and mode are set on the temp file first."""
        try:
            dfd, name = self._parent(rel)
        except (FileNotFoundError, NotADirectoryError):
            if state.kind == "absent":
                return  # its directory is not there: neither is it
            raise
        try:
            if state.kind == "absent":
                try:
                    os.unlink(name, dir_fd=dfd)
                except FileNotFoundError:
                    pass
                os.fsync(dfd)
                return
            tmp = f".{name}{TEMP_MARK}{secrets.token_hex(8)}"
            try:
                if state.kind == "symlink":
                    os.symlink(state.target, tmp, dir_fd=dfd)
                    os.chown(tmp, state.uid, state.gid, dir_fd=dfd, follow_symlinks=False)
                else:
                    fd = os.open(
                        tmp,
                        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                        0o600,
                        dir_fd=dfd,
                    )
                    try:
                        self.between()  # the temp file exists, empty: a kill point in tests
                        os.write(fd, state.data)
                        os.fchown(fd, state.uid, state.gid)
                        os.fchmod(fd, state.mode)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                self.between()  # written, not yet renamed into place
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dfd)
                except OSError:
                    pass
                raise
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def between(self) -> None:
        """Called between the steps of put(); the crash tests kill the process here."""

    def write(self, rel: str, content: str, mode: int = 0o644) -> None:
        self.put(rel, FileState("file", content.encode(), mode, os.geteuid(), os.getegid()))

    def rmdir(self, rel: str) -> bool:
        """Remove an empty directory; False if it is not empty or not there."""
        try:
            dfd, name = self._parent(rel)
        except OSError:
            return False
        try:
            os.rmdir(name, dir_fd=dfd)
            return True
        except OSError:
            return False
        finally:
            os.close(dfd)

    def clean_temps(self, rel_dir: str) -> list[str]:
        """Remove temp files a killed tunekit left in `rel_dir`; returns their names."""
        try:
            fd = self.open(rel_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return []
        removed = []
        try:
            for name in os.listdir(fd):
                if TEMP_MARK in name and name.startswith("."):
                    try:
                        os.unlink(name, dir_fd=fd)
                        removed.append(name)
                    except OSError:
                        pass
        finally:
            os.close(fd)
        return removed
