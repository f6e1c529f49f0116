"""Profiles: a workload plus targets pinned by hand, loaded from TOML.

Targets that are not pinned are derived from the workload by the capacity model
(capacity.resolve_targets), so `--conns N` rescales any profile.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunekit import registry
from tunekit.errors import UsageError

MAX_CONNECTIONS = 100_000_000  # ~420 GB of kernel memory at 4.2 KB/socket: no single host
DEFAULT_PROFILE = "server-1M"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Op = Literal["at_least", "at_most", "exactly", "range"]


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["server", "client", "host"] = "server"
    connections: int = Field(gt=0, le=MAX_CONNECTIONS,
                             description="concurrent connections (flows, for role host)")
    rate: int = Field(0, ge=0, le=10_000_000,
                      description="new connections per second (= closes per second when steady)")
    destinations: int = Field(1, ge=1, le=1_000_000,
                              description="distinct destination ip:port pairs a client targets")
    source_ips: int | None = Field(None, ge=1, le=1_000_000,
                                   description="client source addresses; default: the host's")
    bytes_buffered: int = Field(0, ge=0, le=1 << 30,
                                description="bytes queued in kernel socket buffers per connection")
    app_bytes: int = Field(0, ge=0, le=1 << 30,
                           description="application memory per connection")
    processes: int = Field(1, ge=1, le=100_000,
                           description="processes sharing the connections")
    accept_pause_ms: int = Field(500, ge=0, le=600_000,
                                 description="longest stall of the accept loop (GC, busy loop)")


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    op: Op = "at_least"
    value: int | list[int]
    index: int | None = Field(None, ge=0, le=2, description="compare one element of a triple")
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_registry(self) -> "Target":
        key = registry.KEYS.get(self.key)
        if key is None:
            raise ValueError(f"unknown key {self.key!r}; known keys: {', '.join(registry.KEYS)}")
        width = {"int": 1, "triple": 3, "range": 2}[key.shape]
        if self.index is not None:
            if key.shape != "triple":
                raise ValueError(f"index applies only to triples; {self.key} is {key.shape}")
            width = 1
        if self.op == "range":
            if not (isinstance(self.value, list) and len(self.value) == 2 and width == 1):
                raise ValueError("op 'range' takes value = [low, high] on a single number")
            if self.value[0] > self.value[1]:
                raise ValueError("op 'range' needs low <= high")
        elif width == 1 and not isinstance(self.value, int):
            raise ValueError(f"{self.key} takes one integer")
        elif width > 1 and not (isinstance(self.value, list) and len(self.value) == width):
            raise ValueError(f"{self.key} takes a list of {width} integers")
        values = self.value if isinstance(self.value, list) else [self.value]
        if any(v < 0 for v in values):
            raise ValueError("values must not be negative")
        if key.maximum is not None and any(v > key.maximum for v in values):
            raise ValueError(f"{self.key} is at most {key.maximum} on this kernel family")
        return self

    @property
    def label(self) -> str:
        return self.key if self.index is None else f"{self.key}[{self.index}]"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    extends: str | None = None
    workload: Workload
    targets: list[Target] = []
    path: str = ""  # where it was loaded from (filled in by the loader)


# --- finding and loading -------------------------------------------------------------


def builtin_dir() -> Path:
    """Installed: tunekit/builtin (pyproject maps profiles/ there). Checkout or editable
    install: the top-level profiles/ beside the package."""
    here = Path(__file__).resolve().parent
    installed = here / "builtin"
    return installed if installed.is_dir() else here.parent / "profiles"


def search_path(root: Path | None = None) -> list[Path]:
    """Directories searched for NAME.toml, lowest precedence first (later wins)."""
    home = Path(os.environ.get("HOME", "~")).expanduser()
    etc = (root or Path("/")) / "etc/tunekit/profiles"
    return [builtin_dir(), etc, home / ".config/tunekit/profiles"]


def available(dirs: list[Path] | None = None) -> dict[str, Path]:
    """Every profile name found, mapped to the file that wins."""
    found: dict[str, Path] = {}
    for d in dirs or search_path():
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                found[p.stem] = p
    return found


def locate(ref: str, dirs: list[Path] | None = None) -> Path:
    """A profile name (looked up in the search path) or a path ending in .toml."""
    if ref.endswith(".toml"):
        path = Path(ref)
        if not path.is_file():
            raise UsageError(f"profile file not found: {ref}")
        return path
    if not _NAME_RE.match(ref) or ".." in ref:
        raise UsageError(f"invalid profile name {ref!r}: a name is letters, digits, '.', '_' "
                         "and '-' (no '/', no '..')", "to load a file, give its path ending in .toml")
    found = available(dirs)
    if ref not in found:
        raise UsageError(f"unknown profile {ref!r}",
                         f"known profiles: {', '.join(sorted(found)) or 'none'}")
    return found[ref]


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from err
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from err


def _merge(parent: dict, child: dict) -> dict:
    """Child overrides parent: workload field by field, targets by key (and index)."""
    merged = {**parent, **child}
    merged["workload"] = {**parent.get("workload", {}), **child.get("workload", {})}
    by_key = {(t.get("key"), t.get("index")): t for t in parent.get("targets", [])}
    for t in child.get("targets", []):
        by_key[(t.get("key"), t.get("index"))] = t
    merged["targets"] = list(by_key.values())
    merged["extends"] = child.get("extends")
    return merged


def _raw(ref: str, dirs: list[Path] | None, seen: tuple[str, ...]) -> tuple[dict, Path]:
    path = locate(ref, dirs)
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise UsageError(f"{path}: extends must be a profile name")
        if parent in seen:
            raise UsageError(f"{path}: extends cycle: {' -> '.join(seen + (parent,))}")
        parent_data, _ = _raw(parent, dirs, seen + (parent,))
        parent_data.pop("description", None)
        data = _merge(parent_data, data)
    return data, path


def load(ref: str, dirs: list[Path] | None = None) -> Profile:
    """Load and validate a profile by name or path; errors name the file and the field."""
    data, path = _raw(ref, dirs, (ref,))
    data["path"] = str(path)
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "profile"
        problem = first["msg"].removeprefix("Value error, ")
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise UsageError(f"{path}: {where}: {problem}{more}") from err
