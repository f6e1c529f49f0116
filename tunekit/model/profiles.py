"""Profiles as data: a workload plus targets pinned by hand (pydantic models).

Targets that are not pinned are derived from the workload by the capacity model
(targets.resolve_targets), so `--conns N` rescales any profile. Finding and loading
profile files is knowledge/profiles.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    model_validator,
)

from tunekit.errors import KeyNameError
from tunekit.knowledge import bounds
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key

MAX_CONNECTIONS = 100_000_000  # ~420 GB of kernel memory at 4.2 KB/socket: no single host

Op = Literal["at_least", "at_most", "exactly", "range"]


# Strict: a profile says what it means. `connections = true` or `connections = "1000"` is
# a mistake to name, not a value to coerce (TOML has integers, booleans and strings).
_STRICT = ConfigDict(extra="forbid", strict=True)


class Workload(BaseModel):
    model_config = _STRICT

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
    model_config = _STRICT

    key: str
    op: Op = "at_least"
    value: StrictInt | list[StrictInt] | StrictStr
    index: int | None = Field(None, ge=0, le=2, description="compare one element of a triple")
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_catalogue(self) -> Target:
        try:
            key = K.lookup(self.key)
        except KeyNameError as err:
            raise ValueError(err.message) from None
        if key.kind == "input":
            raise ValueError(f"{key.name} is read by tunekit, not a target")
        self.key = key.name  # canonical: aliases and the slash form resolve
        bounds.check_target(K.generic_shape(key, self.value), self.op, self.value, self.index)
        return self

    @property
    def entry(self) -> Key:
        return K.generic_shape(K.lookup(self.key), self.value)

    @property
    def label(self) -> str:
        return self.key if self.index is None else f"{self.key}[{self.index}]"


class Profile(BaseModel):
    model_config = _STRICT

    name: str
    description: str = ""
    extends: str | None = None
    workload: Workload
    targets: list[Target] = []
    path: str = ""  # where it was loaded from (filled in by the loader)

    @model_validator(mode="after")
    def _one_target_per_key(self) -> Profile:
        seen: dict[tuple[str, int | None], str] = {}
        for t in self.targets:
            slot = (K.canonical(t.key), t.index)  # ip_forward is conf.all.forwarding
            if slot in seen:
                other = seen[slot]
                same = "" if other == t.label else f" ({other} is the same setting)"
                raise ValueError(f"{t.label} has two targets{same}: keep one")
            seen[slot] = t.label
        return self
