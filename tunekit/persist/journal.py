"""The apply journals in a state directory: their names, their order, what one holds, and
how one is read back (checked before it is trusted) and written (atomically, at every
change of what it records).

`check` imports this module for the last applied profile: it stays light (rootfs, which
loads ctypes, is imported where a journal is written).
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunekit.errors import KeyNameError, NotPermitted, UsageError
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import split_name
from tunekit.model.plan import unit_name_ok
from tunekit.persist.state import JOURNALS, StateDir

if TYPE_CHECKING:  # rootfs (ctypes) is imported where files are written, not by `check`
    from tunekit.host.rootfs import FileState

# NNNNNN.status.toml: six digits at least (sorted by number, not by name), at most 12
JOURNAL_RE = re.compile(r"^(\d{6,12})\.(pending|applied|rolled-back)\.toml$")


def journal_name(number: int, status: str) -> str:
    return f"{number:06d}.{status}.toml"


def journals(state: StateDir | None) -> list[tuple[int, str, str]]:
    """(number, status, name) of every journal in journals/, oldest first."""
    if state is None:
        return []
    out = []
    for name in state.names(JOURNALS):
        m = JOURNAL_RE.match(name)
        if m:
            out.append((int(m.group(1)), m.group(2), name))
    # A pending journal whose number also has a later status is stale: apply was killed
    # after writing "applied" and before removing "pending". recover() removes it.
    done = {n for n, status, _ in out if status != "pending"}
    return sorted(
        (n, "stale" if status == "pending" and n in done else status, name)
        for n, status, name in out
    )


def last_applied_profile(state: StateDir | None, root: Path) -> tuple[str, str] | None:
    """The profile of the newest applied journal, and where it was read (for `check` and
    `apply` with no profile named). The journal is checked as rollback checks it before it
    is trusted: ours, for this root, naming only what tunekit writes."""
    for _, status, name in reversed(journals(state)):
        if status == "applied" and state is not None:
            doc = read_journal(state, name, root)
            return doc.profile, str(state.path / JOURNALS / name)
    return None


# --- what one journal holds ----------------------------------------------------------------
# A journal is read back from disk before rollback acts on it: every field is checked here,
# and every path must be one tunekit itself writes (see read_journal below for the rest:
# owner, mode, and the root it was written for).

_PID_RE = re.compile(r"pid [1-9][0-9]{0,9}")
_UNIT_FILE_RE = re.compile(r"etc/systemd/system/([^/]+)\.d/90-tunekit\.conf")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _plain(value: str) -> str:
    if "\n" in value or "\0" in value:
        raise ValueError("not a sysctl value")
    return value


class RuntimeEntry(_Strict):
    key: str
    kind: Literal["sysctl", "rlimit"]
    path: str
    old: str = Field(max_length=4096)
    new: str = Field(max_length=4096)

    _values = field_validator("old", "new")(_plain)

    @model_validator(mode="after")
    def _ours(self) -> RuntimeEntry:
        if self.kind == "rlimit":
            ok = _PID_RE.fullmatch(self.path) is not None
        elif any(self.path == k.runtime_path for k in K.KEYS.values()):
            ok = True
        else:
            try:  # a sysctl path in slash form: plain components only, no '..'
                ok = self.path.startswith("proc/sys/") and bool(
                    split_name(self.path[len("proc/sys/") :])
                )
            except KeyNameError:
                ok = False
        if not ok:
            raise ValueError(f"a runtime entry tunekit does not write: {self.path!r}"[:200])
        if self.kind == "rlimit":
            for value in (self.old, self.new):
                _limits_pair(value)
        return self


RLIM_INFINITY = 2**64 - 1  # RLIM_INFINITY on Linux (rlim_t is unsigned 64-bit)


def _limits_pair(value: str) -> None:
    """A process's open-files limits as tunekit records them: "SOFT HARD", soft <= hard."""
    parts = value.split()
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 20 for p in parts):
        raise ValueError(f"open-files limits {value!r}: expected 'SOFT HARD'"[:200])
    soft, hard = (int(p) for p in parts)
    if not soft <= hard <= RLIM_INFINITY:
        raise ValueError(f"open-files limits {value!r}: not 0 <= soft <= hard <= 2^64-1"[:200])


UID_MAX = 2**32 - 2  # uid_t is 32-bit; (uid_t)-1 means "no change" to chown


class Before(_Strict):
    """A file as it was: absent, a symlink, or a regular file (bytes, mode, owner)."""

    kind: Literal["absent", "file", "symlink"]
    data: str = ""  # base64 of the bytes
    mode: int = Field(0o644, ge=0, le=0o7777)
    uid: int = Field(0, ge=0, le=UID_MAX)
    gid: int = Field(0, ge=0, le=UID_MAX)
    target: str = Field("", max_length=4096)

    @field_validator("target")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("bad symlink target")
        return value

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        base64.b64decode(value, validate=True)
        return value

    @classmethod
    def of(cls, s: FileState) -> Before:
        return cls(kind=s.kind, data=base64.b64encode(s.data).decode(), mode=s.mode,
                   uid=s.uid, gid=s.gid, target=s.target)  # fmt: skip

    def state(self) -> FileState:
        from tunekit.host.rootfs import FileState

        data = base64.b64decode(self.data, validate=True)
        return FileState(self.kind, data, self.mode, self.uid, self.gid, self.target)


class FileEntry(_Strict):
    path: str
    before: Before
    new: str

    @field_validator("path")
    @classmethod
    def _ours(cls, path: str) -> str:
        unit = _UNIT_FILE_RE.fullmatch(path)
        from tunekit.persist import writers

        if path not in writers.paths() and not (unit and unit_name_ok(unit.group(1))):
            raise ValueError(f"a file tunekit does not write: {path!r}"[:200])
        return path


class Journal(_Strict):
    version: Literal[2] = 2
    profile: str
    created: str
    root: str
    status: str = "pending"
    runtime: list[RuntimeEntry] = []
    files: list[FileEntry] = []
    created_dirs: list[str] = []  # deepest first

    @model_validator(mode="after")
    def _dirs_are_parents(self) -> Journal:
        paths = [f.path for f in self.files]
        for d in self.created_dirs:
            if not any(p.startswith(d + "/") for p in paths):
                raise ValueError(f"a directory that is not a parent of tunekit's files: {d!r}")
        return self


# --- reading one back, writing one -----------------------------------------------------


def read_journal(state: StateDir, name: str, root: Path) -> Journal:
    """A journal, checked before it is trusted: ours (owner, mode), written for this root,
    naming only what tunekit itself writes there, with every value restore will use."""
    where = state.path / JOURNALS / name
    try:
        doc = tomllib.loads(state.read(f"{JOURNALS}/{name}").decode("utf-8"))
    except NotPermitted:
        raise
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as err:
        raise UsageError(
            f"{where}: unreadable journal: {err}",
            "inspect it by hand; tunekit will not guess what to undo",
        ) from err
    try:
        journal = Journal.model_validate(doc)
        problem = None
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        problem = f"{loc}: {first['msg'].removeprefix('Value error, ')}"[:240]
    here = str(Path(root).resolve())
    if problem is None and journal.root != here:
        problem = f"written for root {journal.root!r}, not {here!r}"
    if problem is None and here != "/" and any(r.kind == "rlimit" for r in journal.runtime):
        # a root is a tree of files: no process of it runs here, and --pid is refused with
        # --root; a journal that says otherwise was not written by tunekit for this root
        problem = "a process limit in a journal for a root other than /"
    if problem:
        raise NotPermitted(
            f"{where}: {problem}: refusing to act on it",
            "inspect it by hand; tunekit only undoes what it wrote itself",
        )
    return journal
