"""What `status` reads and what it prints, as data: the Snapshot that ops/status.py fills
from host/ (one reading), and the rows (pydantic models) that the document holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tunekit.model.base import Model
from tunekit.model.facts import HostFacts

if TYPE_CHECKING:
    from tunekit.model.check import Finding
    from tunekit.model.profiles import Target

Verdict = Literal["ok", "near", "at-limit", "hit"]
Tables = dict[str, dict[str, int]]


# --- what a reading holds (filled by ops/status.py from host/) -------------------------


@dataclass(frozen=True)
class ListenSocket:
    address: str
    port: int
    queue: int
    backlog: int
    owners: tuple[tuple[int, str], ...] = ()  # (pid, name) of the processes holding it


@dataclass(frozen=True)
class ProcessFiles:
    pid: int
    name: str
    count: int
    soft: int
    hard: int | None = None


@dataclass
class Snapshot:
    at: float  # monotonic seconds
    facts: HostFacts  # the limits (sysctls) at this reading
    tables: Tables = field(default_factory=dict)  # host/counters.py
    listeners: list[ListenSocket] | None = None  # None: not read (with the reason in notes)
    processes: list[ProcessFiles] | None = None
    ports: dict[tuple[str, str, int], int] | None = None  # (source, destination, port)
    states: dict[str, int] | None = None  # rare states from inet_diag (host/sockets.py)
    syn_recv_by_port: dict[int, int] = field(default_factory=dict)
    log: dict[str, int] | None = None  # kernel log text -> records since the last reading
    notes: list[str] = field(default_factory=list)  # what was not read, and why


@dataclass
class Profiled:
    """What a PROFILE adds (ops/audit.run): check's findings by key, the workload's needs."""

    name: str
    findings: dict[str, Finding]  # by key label (name, or name[i] for a triple)
    needs: dict[str, int]
    targets: dict[str, Target]  # by key label


# --- what status prints -----------------------------------------------------------------


class ProfileJudgement(Model):
    profile: str
    expected: str  # the profile's target for the key, as check prints it
    verdict: str  # check's verdict for the key
    planned: int | None = None  # what the profile's workload needs here
    load_percent: float | None = None  # used / planned


class Row(Model):
    resource: str
    key: str  # the key whose limit this is
    labels: dict[str, str] = {}  # which process, listener or destination
    used: int
    limit: int | None
    percent: float | None = None
    near_at: int | None = None  # where it is already near (tcp_mem's pressure)
    unit: str = ""
    rate: float | None = None  # per second, since the previous reading
    seconds_to_limit: float | None = None  # at that rate
    verdict: Verdict = "ok"
    symptoms: dict[str, int] = {}  # the key's counters: growth since the previous reading
    members: int | None = None  # a listener's SO_REUSEPORT group: its sockets
    owners: list[str] = []  # a listener's processes: "nginx (pid 812)"
    detail: str = ""
    fix: str = ""
    profile: ProfileJudgement | None = None

    @property
    def identity(self) -> tuple:
        return (self.resource, self.key, tuple(sorted(self.labels.items())))


class SymptomRow(Model):
    counter: str
    table: str
    key: str
    total: int  # since boot (TcpExt: since the network namespace was made)
    grown: int  # since the previous reading, or since boot
    meaning: str
    verdict: Verdict


class LogRow(Model):
    text: str
    key: str
    count: int  # records in the kernel log since the previous reading (or in the buffer)
    meaning: str


class SocketStates(Model):
    """TCP sockets by state, from sockstat and snmp where they suffice (counts kept by the
    kernel), and inet_diag for the rare states (host/sockets.py)."""

    established: int | None = None  # Tcp CurrEstab (ESTABLISHED + CLOSE_WAIT) - CLOSE_WAIT
    syn_recv: int | None = None
    time_wait: int | None = None  # sockstat tw (FIN_WAIT2 minisockets included)
    orphans: int | None = None  # sockstat orphan (the host's)
    close_wait: int | None = None  # a leak's signature when it grows
    others: dict[str, int] = {}  # SYN_SENT, FIN_WAIT1, LAST_ACK, CLOSING
    inuse: int | None = None  # sockstat TCP + TCP6 inuse: every TCP socket in the hashes


@dataclass
class Previous:
    """What the next reading compares with."""

    at: float
    used: dict[tuple, int]
    tables: Tables


@dataclass
class Judged:
    rows: list[Row]
    symptoms: list[SymptomRow]
    log: list[LogRow]
    sockets: SocketStates
    previous: Previous
