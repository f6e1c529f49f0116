"""`estimate`: what N connections need and which live limit binds first, for a role."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunekit.errors import UsageError
from tunekit.ops import audit
from tunekit.output.documents.estimate import EstimateCommand


@dataclass
class EstimateOptions:
    conns: int
    role: str = "server"
    workload: dict = field(default_factory=dict)  # workload fields given (None: not given)
    root: Path | None = None
    snapshot: Path | None = None
    mem_total: int | None = None
    const: dict[str, float] = field(default_factory=dict)


def estimate(o: EstimateOptions) -> EstimateCommand:
    """Workload values not given come from the role's built-in profile (server-1M,
    client-flood, host-conntrack)."""
    from pydantic import ValidationError

    from tunekit.knowledge import profiles
    from tunekit.model.constants import CONSTANTS
    from tunekit.model.profiles import Profile, Workload

    if o.role not in profiles.ROLE_PROFILES:
        raise UsageError(f"--role {o.role!r}: expected server, client or host")
    name = profiles.ROLE_PROFILES[o.role]
    base = profiles.load(name).workload.model_dump()
    given = {"connections": o.conns, **{k: v for k, v in o.workload.items() if v is not None}}
    try:
        workload = Workload.model_validate({**base, **given})
    except ValidationError as err:
        e = err.errors()[0]
        flag = "--" + str(e["loc"][0]).replace("_", "-")
        raise UsageError(f"{flag}: {e['msg']}") from None
    result = audit.run(
        Profile(name=name, workload=workload),
        "--role " + o.role,
        root=o.root,
        snapshot=o.snapshot,
        mem_total=o.mem_total,
        const=o.const,
        state=audit.state_dir(None, o.root),
    )
    return EstimateCommand(
        **dict(result.estimate),
        calibration=result.calibration,
        workload=workload.model_dump(),
        workload_defaults_from=name,
        source=result.facts.source,
        constant_sources={k: v.source for k, v in CONSTANTS.items()},
    )
