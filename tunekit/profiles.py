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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from tunekit import registry, values
from tunekit.errors import UsageError

MAX_CONNECTIONS = 100_000_000  # ~420 GB of kernel memory at 4.2 KB/socket: no single host
DEFAULT_PROFILE = "server-1M"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Op = Literal["at_least", "at_most", "exactly", "range"]


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["server", "client", "host"] = "server"
    connections: int = Field(
        gt=0, le=MAX_CONNECTIONS, description="concurrent connections (flows, for role host)"
    )
    rate: int = Field(
        0,
        ge=0,
        le=10_000_000,
        description="new connections per second (= closes per second when steady)",
    )
    destinations: int = Field(
        1, ge=1, le=1_000_000, description="distinct destination ip:port pairs a client targets"
    )
    source_ips: int | None = Field(
        None, ge=1, le=1_000_000, description="client source addresses; default: the host's"
    )
    bytes_buffered: int = Field(
        0, ge=0, le=1 << 30, description="bytes queued in kernel socket buffers per connection"
    )
    app_bytes: int = Field(0, ge=0, le=1 << 30, description="application memory per connection")
    processes: int = Field(1, ge=1, le=100_000, description="processes sharing the connections")
    accept_pause_ms: int = Field(
        500, ge=0, le=600_000, description="longest stall of the accept loop (GC, busy loop)"
    )
    listen_backlog: int | None = Field(
        None,
        ge=1,
        le=2_147_483_647,
        description="backlog the application passes to listen() (nginx 511, Java 50, Go: "
        "somaxconn); unknown if not given: `ss -lnt` shows it as Send-Q",
    )
    closes: Literal["local", "remote"] = Field(
        "local",
        description="which side closes first and so holds TIME_WAIT: local (this "
        "host) or remote (the peer)",
    )
    soft_nofile_everywhere: bool = Field(
        False,
        description="also raise the soft open-files limit for every login and service; "
        "off: programs using select() corrupt memory past descriptor 1023",
    )


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    op: Op = "at_least"
    value: StrictInt | list[StrictInt] | StrictStr
    index: int | None = Field(None, ge=0, le=2, description="compare one element of a triple")
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_registry(self) -> Target:
        try:
            key = registry.lookup(self.key)
        except registry.KeyError_ as err:
            raise ValueError(str(err)) from None
        if key.kind == "input":
            raise ValueError(f"{key.name} is read by tunekit, not a target")
        self.key = key.name  # canonical: aliases and the slash form resolve
        key = registry.generic_shape(key, self.value)
        _check_value(key, self.op, self.value, self.index)
        return self

    @property
    def entry(self) -> registry.Key:
        return registry.generic_shape(registry.lookup(self.key), self.value)

    @property
    def label(self) -> str:
        return self.key if self.index is None else f"{self.key}[{self.index}]"


def _check_value(key: registry.Key, op: str, value, index: int | None) -> None:
    """Refuse a value that does not fit the key's shape or the kernel's bounds."""
    if key.shape == "string":
        _check_text(key, op, value)
    elif key.shape == "portset":
        _check_ports(key, op, value, index)
    else:
        nums = _check_numbers(key, op, value, index)
        _check_bounds(key, op, value, nums)


def _check_text(key: registry.Key, op: str, value) -> None:
    if not isinstance(value, str) or op != "exactly":
        raise ValueError(f'{key.name} takes text compared with op = "exactly"')
    if not value.strip() or len(value) > 256 or not value.isprintable():
        raise ValueError(f"{key.name}: {value!r} is not a value a sysctl takes")


def _check_ports(key: registry.Key, op: str, value, index: int | None) -> None:
    if not isinstance(value, str) or op == "range" or index is not None:
        raise ValueError(f'{key.name} takes ports as text, e.g. "8080,9000-9010"')
    try:
        values.parse_portset(value)
    except ValueError as err:
        raise ValueError(f"{key.name}: {err}") from None


def _check_numbers(key: registry.Key, op: str, value, index: int | None) -> list[int]:
    """The numbers of `value`, which must have the width the key (or index) takes."""
    if isinstance(value, str):
        raise ValueError(f"{key.name} takes numbers, not text")
    listed = len(value) if isinstance(value, list) else 1
    width = {"int": 1, "triple": 3, "range": 2}.get(key.shape, listed)
    if index is not None:
        if key.shape != "triple":
            raise ValueError(f"index applies only to triples; {key.name} is {key.shape}")
        width = 1
    if op == "range":
        if not (isinstance(value, list) and len(value) == 2 and width == 1):
            raise ValueError("op 'range' takes value = [low, high] on a single number")
        if value[0] > value[1]:
            raise ValueError("op 'range' needs low <= high")
    elif width == 1 and not isinstance(value, int):
        raise ValueError(f"{key.name} takes one integer")
    elif width > 1 and not (isinstance(value, list) and len(value) == width):
        raise ValueError(f"{key.name} takes a list of {width} integers")
    nums = value if isinstance(value, list) else [value]
    if not nums:
        raise ValueError(f"{key.name}: empty list")
    return nums


def _check_bounds(key: registry.Key, op: str, value, nums: list[int]) -> None:
    low = key.minimum if key.minimum is not None else (0 if key.known else -(2**31))
    high = key.maximum if key.maximum is not None else 2**63 - 1
    for v in nums:
        if not low <= v <= high:
            raise ValueError(f"{key.name}: {v} is outside {low}..{high}")
    if key.shape == "range" and op != "range":
        lo, hi = value
        if lo >= hi:
            raise ValueError(f"{key.name}: needs low < high, got {lo} {hi}")
        if key.parity and lo % 2 == hi % 2:
            raise ValueError(
                f"{key.name} {lo} {hi}: the ends must differ in parity (since 4.6 "
                "connect() takes the low end's parity, bind(0) the other)"
            )


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    extends: str | None = None
    workload: Workload
    targets: list[Target] = []
    path: str = ""  # where it was loaded from (filled in by the loader)

    @model_validator(mode="after")
    def _one_target_per_key(self) -> Profile:
        seen: set[tuple[str, int | None]] = set()
        for t in self.targets:
            if (t.key, t.index) in seen:
                raise ValueError(f"{t.label} has two targets: keep one")
            seen.add((t.key, t.index))
        return self


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
    """Every profile name found, mapped to the file that wins. A directory that cannot be
    read is skipped (an unreadable ~/.config must not stop a root's audit)."""
    found: dict[str, Path] = {}
    for d in dirs or search_path():
        try:
            names = sorted(p for p in d.glob("*.toml")) if d.is_dir() else []
        except OSError:
            continue
        for p in names:
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
        raise UsageError(
            f"invalid profile name {ref!r}: a name is letters, digits, '.', '_' "
            "and '-' (no '/', no '..')",
            "to load a file, give its path ending in .toml",
        )
    found = available(dirs)
    if ref not in found:
        raise UsageError(
            f"unknown profile {ref!r}", f"known profiles: {', '.join(sorted(found)) or 'none'}"
        )
    return found[ref]


MAX_EXTENDS = 32  # deeper inheritance is a mistake (or an attack), not a design


def _read_toml(path: Path) -> dict:
    from tunekit.host import read_text

    try:
        data = read_text(path, strict=True)  # a regular file: a FIFO is an error, not a hang
        return tomllib.loads(data)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from err
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {err.start}): TOML files are UTF-8"
        ) from err
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


def _shape_ok(path: Path, data: dict) -> None:
    """Refuse, with the file named, what a merge could not even walk."""
    if not isinstance(data.get("workload", {}), dict):
        raise UsageError(f"{path}: workload must be a table ([workload])")
    targets = data.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise UsageError(f"{path}: targets must be tables ([[targets]])")


def _raw(ref: str, dirs: list[Path] | None, seen: tuple[str, ...]) -> tuple[dict, Path]:
    path = locate(ref, dirs)
    data = _read_toml(path)
    _shape_ok(path, data)
    data.setdefault("name", path.stem)
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise UsageError(f"{path}: extends must be a profile name")
        if len(seen) > MAX_EXTENDS:
            raise UsageError(f"{path}: extends is more than {MAX_EXTENDS} deep")
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
