"""The JSON documents tunekit prints, as pydantic models: one definition per document.

Every `--json` output is validated against its model before it is printed (a field added
in one place and not here is an error, not drift), and `tunekit schema COMMAND` prints the
model's JSON Schema. docs/json.md describes them for people.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["pass", "fail", "warn", "missing", "unreadable", "not-applicable"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetRef(_Doc):
    op: str
    value: Any  # a number, a list of numbers, or text, by the key's shape
    index: int | None = None


class Finding(_Doc):
    key: str
    expected: str
    actual: str | None
    verdict: Verdict
    reason: str
    source: str = ""
    fix: str = ""
    scope: str = ""
    target: TargetRef | None = None
    proposed: Any = None  # what apply would write


class Need(_Doc):
    name: str
    value: int
    unit: str
    detail: str


class Limit(_Doc):
    name: str
    key: str | None
    allows: int
    detail: str


class Calibration(_Doc):
    path: str
    kernel: str
    measured: str
    command: str
    connections: int
    values: dict[str, float]
    used: bool
    ignored: str | None


class Estimate(_Doc):
    connections: int
    role: str
    rate: int
    needs: list[Need]
    limits: list[Limit]  # ascending: the first binds
    rate_limits: list[Limit]  # per second
    constants: dict[str, float]
    notes: list[str]
    unfit: list[str]  # what no setting can lift
    capacity: int | None
    binding: Limit | None


class EstimateCommand(Estimate):
    calibration: Calibration | None
    workload: dict[str, Any]
    workload_defaults_from: str
    source: str
    constant_sources: dict[str, str]


class Check(_Doc):
    profile: str
    profile_why: str
    connections: int
    role: str
    source: str
    compliant: bool
    counts: dict[Verdict, int]
    environment: list[str]
    findings: list[Finding]
    estimate: Estimate | None
    calibration: Calibration | None
    boot: BootConfig | None = None


LintVerdict = Literal[
    "dead", "harmful", "units", "syntax", "no-op", "risky", "conflict", "overridden"
]


class LintFinding(_Doc):
    file: str
    line: int
    key: str
    value: str
    verdict: LintVerdict
    why: str
    fix: str
    source: str
    rule: str
    text: str


class BootChange(_Doc):
    key: str
    live: str
    boot: str
    file: str
    line: int


class BootConfig(_Doc):
    """check's boot-time section: lint findings on the profile's keys in what applies at
    the next boot."""

    findings: list[LintFinding]
    fails_after_reboot: bool
    unreadable: list[str]


class LintFile(_Doc):
    path: str
    format: str
    settings: int


class LintHost(_Doc):
    kernel: str
    memory_bytes: int | None
    live_values: str
    container: bool


class Lint(_Doc):
    mode: Literal["boot", "files"]
    host: LintHost
    files: list[LintFile]
    findings: list[LintFinding]
    counts: dict[LintVerdict, int]
    fail_on: list[LintVerdict]
    failed: bool
    changes_at_boot: list[BootChange]
    unreadable: list[str]


class Change(_Doc):
    key: str
    kind: Literal["sysctl", "rlimit"]
    path: str
    old: str
    new: str
    reason: str


class FileWrite(_Doc):
    path: str
    content: str
    old: str | None
    changed: bool


class Apply(_Doc):
    profile: str
    profile_why: str
    root: str
    changes: list[Change]
    files: list[FileWrite]
    left_alone: list[str]
    conflicts: list[str]
    unfit: list[str]
    dry_run: bool
    applied: bool
    recovered: list[str] = []  # interrupted applies undone first
    state_dir: str | None = None


class RuntimeEntry(_Doc):
    key: str
    kind: str
    path: str
    old: str
    new: str


class Rollback(_Doc):
    rolled_back: bool
    profile: str | None
    runtime: list[RuntimeEntry]
    files: list[str]
    problems: list[str]
    recovered: list[str]


class ProbeLayout(_Doc):
    source_ips: int
    first_source: str
    destinations: list[str]
    connect_workers: int
    accept_workers: int
    per_worker: int
    nofile: int
    conntrack: bool


class ProbeNamespace(_Doc):
    sysctls_copied: list[str]
    not_copied: dict[str, str]


class ProbeFailure(_Doc):
    kind: str  # an errno name, "timeout", a counter name, or "worker_died"
    key: str | None
    detail: str
    at_connections: int
    seconds: float
    count: int


class ProbeMemory(_Doc):
    sockets: int
    slab_bytes: int
    per_socket: float | None
    estimate_per_socket: float
    diff_percent: float | None
    tcp_mem_pages: int
    caches: dict[str, int]
    send: int
    tcp_mem_pages_per_conn: float | None
    estimate_tcp_mem_pages_per_conn: float | None
    buffer_diff_percent: float | None
    slab_per_conn: float | None
    excluded: dict[str, int]
    conntrack_entries: int
    conntrack_bytes: int
    per_conntrack_entry: float | None
    estimate_per_conntrack_entry: float | None
    conntrack_diff_percent: float | None


class ProbeEstimate(_Doc):
    binding: Limit | None
    predicted_stop: int | None
    agrees: bool | None
    limits: list[Limit]


class Probe(_Doc):
    connections: int
    complete: bool
    established: int
    connected: int
    accepted: int
    held: int
    connect_seconds: float
    rate: int
    hold_seconds: float
    layout: ProbeLayout
    namespace: ProbeNamespace
    failure: ProbeFailure | None
    events: list[ProbeFailure]
    memory: ProbeMemory | None
    estimate: ProbeEstimate
    constants: dict[str, float]
    buffers_set: dict[str, str]
    calibration: Calibration | None  # what --calibrate wrote, as estimate and check show it


class ProfileRow(_Doc):
    name: str
    role: str | None
    connections: int | None
    description: str
    path: str
    error: str | None


class Profiles(_Doc):
    profiles: list[ProfileRow]
    search_path: list[str]


class ShownTarget(_Doc):
    key: str
    op: str
    value: Any
    index: int | None
    reason: str
    source: str
    pinned: bool


class ProfileShow(_Doc):
    name: str
    description: str
    path: str
    extends: str | None
    workload: dict[str, Any]
    calibration: Calibration | None
    targets: list[ShownTarget]


SCHEMAS: dict[str, type[BaseModel]] = {
    "check": Check,
    "estimate": EstimateCommand,
    "apply": Apply,
    "rollback": Rollback,
    "probe": Probe,
    "profiles": Profiles,
    "profiles-show": ProfileShow,
    "lint": Lint,
}


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    for noise in ("typing.", "tunekit.documents.", "__main__.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("NoneType", "null")


def markdown() -> str:
    """The field list of every document, for docs/json.md (generated: see its header)."""
    out: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], title: str) -> None:
        if model in seen:
            return
        seen.add(model)
        out.extend([f"### {title}", "", "| field | type |", "|---|---|"])
        nested = []
        for name, field in model.model_fields.items():
            out.append(f"| `{name}` | `{_type_name(field.annotation)}` |")
            for arg in getattr(field.annotation, "__args__", ()) + (field.annotation,):
                inner = getattr(arg, "__args__", (arg,))
                nested += [a for a in inner if isinstance(a, type) and issubclass(a, _Doc)]
        out.append("")
        for sub in nested:
            walk(sub, sub.__name__)

    for kind, model in SCHEMAS.items():
        walk(model, f"`{kind}`: {model.__name__}")
    return "\n".join(out)


Check.model_rebuild()  # Check names BootConfig, defined after it

if __name__ == "__main__":
    print(markdown())
