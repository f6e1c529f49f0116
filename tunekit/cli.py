"""The command line: parse, call the engine and the host layer, render, map errors to exit codes.

Exit codes: 0 compliant/done, 1 not compliant, 2 bad input, 3 not permitted or unsupported
environment, 4 apply failed and was rolled back. Set TUNEKIT_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from datetime import UTC
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.errors import NotPermitted, TunekitError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Audit, estimate and apply Linux kernel tuning for hosts that hold or open "
    "millions of TCP connections.",
)
profiles_app = typer.Typer(
    help="List the profiles, or show one's resolved targets.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(profiles_app, name="profiles")

ROLE_PROFILES = {"server": "server-1M", "client": "client-flood", "host": "host-conntrack"}
# 1000000, 1_000_000, 1,000,000 (groups of three), 1.5M, 200k
_CONNS_RE = re.compile(
    r"^\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+|[0-9]{1,12})"
    r"(\.[0-9]{1,6})?\s*([kKmM]?)\s*$"
)


def handled(func):
    """The one place where tunekit's errors become a line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TunekitError as err:
            if os.environ.get("TUNEKIT_DEBUG"):
                raise
            typer.echo(f"tunekit: error: {err.message}", err=True)
            if err.hint:
                typer.echo(f"  hint: {err.hint}", err=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("tunekit: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def parse_count(text: str | None, flag: str = "--conns") -> int | None:
    """'1000000', '1_000_000', '1,000,000', '200k', '1.5M' -> int; anything else exits 2."""
    if text is None:
        return None
    return parse_required_count(text, flag)


def parse_required_count(text: str, flag: str = "--conns") -> int:
    from tunekit.profiles import MAX_CONNECTIONS

    m = _CONNS_RE.match(text)
    if not m:
        raise UsageError(
            f"{flag} {text!r}: not a number",
            "give a positive whole number, e.g. 1000000, 1_000_000, 200k or 1M",
        )
    digits = m.group(1).replace("_", "").replace(",", "") + (m.group(2) or "")
    value = float(digits) * {"": 1, "k": 1e3, "m": 1e6}[m.group(3).lower()]
    if value != int(value) or value < 1:
        raise UsageError(f"{flag} {text!r}: must be a whole number of at least 1")
    if value > MAX_CONNECTIONS:
        raise UsageError(
            f"{flag} {text!r}: more than {MAX_CONNECTIONS:,}",
            "no single host holds that many: ~4.2 KB of kernel memory each",
        )
    return int(value)


def parse_consts(items: list[str] | None) -> dict[str, float]:
    """NAME=VALUE pairs; a value is a finite number from 1e-6 to 1e12 (no nan, inf, 1e400)."""
    import math

    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            number = float(value) if sep and len(value) <= 32 else math.nan
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and 1e-6 <= number <= 1e12):
            raise UsageError(
                f"--const {item[:60]!r}: expected NAME=NUMBER, a number from 0.000001 to 1e12"
            )
        out[name.strip()] = number
    return out


def emit_json(doc: dict, kind: str) -> None:
    """Print one JSON document, validated against its model (tunekit.documents): what a
    script reads is what `tunekit schema KIND` says."""
    import json

    from tunekit.documents import SCHEMAS

    checked = SCHEMAS[kind].model_validate(json.loads(json.dumps(doc, default=_json_default)))
    typer.echo(json.dumps(checked.model_dump(mode="json"), indent=2))


def _json_default(obj):
    if isinstance(obj, (set, tuple)):
        return sorted(obj) if isinstance(obj, set) else list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def parse_size(text: str | None, flag: str = "--mem-total") -> int | None:
    """'34359738368', '32G', '32GiB', '512M' -> bytes (binary units); else exits 2."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]{1,15})\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise UsageError(
            f"{flag} {text!r}: not a size",
            "give bytes, or a number with K, M, G or T (binary), e.g. 32G",
        )
    value = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]
    if not 1 << 20 <= value <= 1 << 50:
        raise UsageError(f"{flag} {text!r}: expected 1 MiB to 1 PiB")
    return value


ConnsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--conns",
        help="Connections to plan for (1000000, 1_000_000, 200k, 1M); rescales the profile.",
    ),
]
RootOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--root",
        help="Read the host under this directory instead of / (proc/sys, proc/meminfo, ...).",
    ),
]
SnapshotOpt = Annotated[
    Optional[Path],
    typer.Option("--snapshot", help="Audit a saved `sysctl -a` output instead of the live host."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (schema in the README).")
]
ConstOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--const", help="Override a capacity constant, NAME=VALUE (repeatable); names: see README."
    ),
]
MemTotalOpt = Annotated[
    Optional[str],
    typer.Option(
        "--mem-total",
        help="With --snapshot: the audited host's RAM (bytes, or 32G), so tcp_mem "
        "and memory needs can be judged.",
    ),
]


@app.command()
@handled
def check(
    profile: Annotated[
        Optional[str],
        typer.Argument(
            help="Profile name or path to a .toml; default: the last applied, else server-1M."
        ),
    ] = None,
    conns: ConnsOpt = None,
    pid: Annotated[
        Optional[int], typer.Option(help="Audit the open-files limit of this process.")
    ] = None,
    process: Annotated[
        Optional[str],
        typer.Option(help="Audit the open-files limit of the process with this name."),
    ] = None,
    unit: Annotated[
        Optional[str], typer.Option(help="Audit the LimitNOFILE of this systemd unit.")
    ] = None,
    root: RootOpt = None,
    snapshot: SnapshotOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
    const: ConstOpt = None,
) -> None:
    """Diff the live host against a profile's targets; exit 1 if any target fails."""
    from tunekit import audit, report
    from tunekit.check import CheckReport, environment

    state = audit.state_dir(None, root)
    prof, why = audit.load_profile(profile, parse_count(conns), state)
    result = audit.run(
        prof,
        why,
        root=root,
        snapshot=snapshot,
        mem_total=parse_size(mem_total),
        const=parse_consts(const),
        state=state,
        pid=pid,
        process=process,
        unit=unit,
    )
    facts, cal = result.facts, result.calibration
    doc = CheckReport(
        profile=prof.name,
        profile_why=why,
        connections=prof.workload.connections,
        role=prof.workload.role,
        source=facts.source + (f", kernel {facts.kernel}" if facts.kernel else ""),
        findings=result.findings,
        environment=environment(facts),
        estimate=result.estimate,
    )
    boot = None if snapshot is not None else _boot_config(root, prof.name, result.targets)
    if json_out:
        out = {**doc.to_dict(), "calibration": cal.to_dict() if cal else None}
        emit_json({**out, "boot": boot and boot[0]}, "check")
    else:
        if cal:
            typer.echo(cal.describe())
        typer.echo(report.render_check(doc, f"tunekit apply {prof.name} --dry-run"))
        if boot:
            typer.echo("")
            typer.echo(boot[1])
    raise typer.Exit(0 if doc.compliant else 1)


def _boot_config(root: Path | None, profile: str, targets: list) -> tuple[dict, str]:
    """check's boot-time section: (the JSON object, the text)."""
    from dataclasses import asdict

    from tunekit import lint as linting

    findings, unreadable = linting.boot_section(root or Path("/"), profile, targets)
    fails = any(f.verdict in linting.DEFAULT_FAIL_ON + ("conflict",) for f in findings)
    doc = {
        "findings": [asdict(f) for f in findings],
        "fails_after_reboot": fails,
        "unreadable": unreadable,
    }
    return doc, linting.render_boot(findings, unreadable)


@app.command()
@handled
def apply(
    profile: Annotated[
        Optional[str],
        typer.Argument(help="Profile name or path; default: the last applied, else server-1M."),
    ] = None,
    conns: ConnsOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print every change and file that would be written; change nothing."
        ),
    ] = False,
    no_persist: Annotated[
        bool,
        typer.Option(
            "--no-persist", help="Change the running kernel only; write no drop-in files."
        ),
    ] = False,
    scope: Annotated[
        str,
        typer.Option(
            help="all, or namespace: only keys of this network namespace (what a container owns)."
        ),
    ] = "all",
    pid: Annotated[
        Optional[int],
        typer.Option(help="Also raise the open-files limit of this running process (prlimit)."),
    ] = None,
    unit: Annotated[
        Optional[str], typer.Option(help="Also write a LimitNOFILE= drop-in for this systemd unit.")
    ] = None,
    root: RootOpt = None,
    state_dir_opt: Annotated[
        Optional[Path],
        typer.Option(
            "--state-dir",
            help="Journal directory (default $TUNEKIT_STATE_DIR, else "
            "/var/lib/tunekit under --root).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Make this host meet a profile: runtime writes, drop-in files, a journal to undo them.

    Only failing targets are changed, and never lowered below what already satisfies them.
    Exit 0 done (or already compliant), 2 invalid value (nothing written), 3 not root or
    another apply running, 4 failed and rolled back."""
    from tunekit import apply as applier
    from tunekit import audit, report
    from tunekit.plan import Options, unit_name_ok

    if scope not in ("all", "namespace"):
        raise UsageError(f"--scope {scope!r}: expected all or namespace")
    if unit is not None and not unit_name_ok(unit):
        raise UsageError(f"--unit {unit!r}: not a systemd unit name")
    base = root or Path("/")
    live = base.resolve() == Path("/")
    if not live and (pid is not None or unit is not None):
        raise UsageError(
            f"--pid and --unit act on the live host: they make no sense with --root {root}"
        )
    state = audit.state_dir(state_dir_opt, root)
    count = parse_count(conns)

    opts = Options(scope=scope, pid=pid, unit=unit, persist=not no_persist)

    def make_plan():
        return _make_plan(profile, count, root, state, opts)

    if dry_run:
        plan, _ = make_plan()
        if json_out:
            emit_json({**plan.to_dict(), "dry_run": True, "applied": False}, "apply")
        else:
            typer.echo(report.render_plan(plan, dry_run=True))
            typer.echo(
                "\nDry run: nothing was changed."
                if not plan.empty
                else "\nThis host already complies: nothing to change."
            )
        return
    if live and os.geteuid() != 0:
        raise NotPermitted(
            "apply changes the kernel: run it as root",
            "tunekit apply --dry-run shows the plan without root",
        )
    make_plan()  # validates: an invalid value exits 2 before the state directory is touched
    with applier.locked(state):  # then again under the lock, against what is there now
        recovered = applier.recover(base, state)
        plan, facts = make_plan()
        if plan.empty:
            if json_out:
                emit_json(
                    {**plan.to_dict(), "dry_run": False, "applied": False, "recovered": recovered},
                    "apply",
                )
            else:
                for line in recovered:
                    typer.echo(f"Recovered: {line}")
                typer.echo(f"This host already complies with {plan.profile}: nothing to change.")
            return
        if facts.proc_sys_writable is False and any(ch.kind == "sysctl" for ch in plan.changes):
            raise NotPermitted(
                "/proc/sys is read-only here: the kernel settings must be set "
                "by the host or the container runtime",
                "try --scope namespace, or apply on the host",
            )
        applier.execute(plan, base, state)
    if json_out:
        emit_json(
            {
                **plan.to_dict(),
                "dry_run": False,
                "applied": True,
                "recovered": recovered,
                "state_dir": str(state),
            },
            "apply",
        )
    else:
        for line in recovered:
            typer.echo(f"Recovered: {line}")
        typer.echo(report.render_plan(plan, dry_run=False))
        typer.echo(
            f"\nApplied. Journal in {state / applier.JOURNALS}. Undo: tunekit rollback"
            + (f" --root {root}" if root else "")
            + (f" --state-dir {state_dir_opt}" if state_dir_opt else "")
        )


def _make_plan(profile: str | None, count: int | None, root: Path | None, state: Path, opts):
    """The audit, then the plan from its findings, with the files as they are now and the
    boot-time conflicts. One function for --dry-run and for the apply under the lock."""
    from tunekit import apply as applier
    from tunekit import audit
    from tunekit.plan import boot_conflicts, build_plan, drop_in_paths

    base = root or Path("/")
    prof, why = audit.load_profile(profile, count, state)
    result = audit.run(prof, why, root=root, state=state, pid=opts.pid)
    opts.soft_everywhere = prof.workload.soft_nofile_everywhere
    existing = applier.read_files(base, drop_in_paths(opts.unit))
    plan = build_plan(result.findings, result.facts, prof.name, why, str(base), opts, existing)
    plan.unfit = list(result.estimate.unfit)
    if opts.persist:
        ours = {ch.key: ch.new for ch in plan.changes if ch.kind == "sysctl"}
        plan.conflicts = boot_conflicts(applier.sysctl_search_path(base), ours)
    return plan, result.facts


@app.command()
@handled
def rollback(
    root: RootOpt = None,
    state_dir_opt: Annotated[
        Optional[Path], typer.Option("--state-dir", help="Journal directory (as for apply).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Undo the last apply: restore the previous runtime values and files exactly.

    Run it again to undo the apply before that, one at a time. An apply that was killed
    half-way is found and undone first. Exit 0 done (or nothing to undo), 3 a journal that
    is not ours or not for this root, 4 an item could not be restored."""
    from tunekit import apply as applier
    from tunekit.audit import state_dir

    base = root or Path("/")
    state = state_dir(state_dir_opt, root)
    if base.resolve() == Path("/") and os.geteuid() != 0:
        raise NotPermitted("rollback changes the kernel: run it as root")
    problems: list[str] = []
    recovered: list[str] = []
    if not state.exists():
        doc = None
    else:
        with applier.locked(state):
            doc, problems, recovered = applier.rollback(base, state)
    if json_out:
        emit_json(
            {
                "rolled_back": doc is not None,
                "profile": doc.profile if doc else None,
                "runtime": [r.model_dump() for r in doc.runtime] if doc else [],
                "files": [f.path for f in doc.files] if doc else [],
                "problems": problems,
                "recovered": recovered,
            },
            "rollback",
        )
    else:
        for line in recovered:
            typer.echo(f"Recovered: {line}")
        if doc is None:
            typer.echo(f"Nothing to undo: no applied journal in {state / applier.JOURNALS}.")
        else:
            typer.echo(f"Rolled back the apply of {doc.profile} from {doc.created}:")
            for r in doc.runtime:
                typer.echo(f"  {r.key}: {r.new} -> {r.old}")
            for f in doc.files:
                kind = f.before.kind
                typer.echo(f"  /{f.path}: " + ("removed" if kind == "absent" else "restored"))
            for p in problems:
                typer.echo(f"  COULD NOT RESTORE: {p}")
    if problems:
        raise typer.Exit(4)


@app.command()
@handled
def estimate(
    conns: Annotated[
        str, typer.Option("--conns", help="Connections to hold or open (1000000, 200k, 1M).")
    ],
    role: Annotated[str, typer.Option(help="server, client or host (conntrack).")] = "server",
    rate: Annotated[Optional[int], typer.Option(help="New connections per second.")] = None,
    destinations: Annotated[
        Optional[int], typer.Option(help="Distinct destination ip:port pairs (client).")
    ] = None,
    source_ips: Annotated[
        Optional[int], typer.Option(help="Client source addresses; default: this host's.")
    ] = None,
    bytes_buffered: Annotated[
        Optional[int], typer.Option(help="Bytes queued in kernel buffers per connection.")
    ] = None,
    app_bytes: Annotated[
        Optional[int], typer.Option(help="Application memory per connection.")
    ] = None,
    processes: Annotated[
        Optional[int], typer.Option(help="Processes sharing the connections.")
    ] = None,
    closes: Annotated[
        Optional[str],
        typer.Option(help="Which side closes first and holds TIME_WAIT: local or remote."),
    ] = None,
    listen_backlog: Annotated[
        Optional[int],
        typer.Option(
            help="Backlog the server passes to listen() (ss -lnt: Send-Q of the listener)."
        ),
    ] = None,
    const: ConstOpt = None,
    root: RootOpt = None,
    snapshot: SnapshotOpt = None,
    mem_total: MemTotalOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What N connections need, what the live settings allow, and which limit binds first.

    Workload values not given come from the role's built-in profile (server-1M,
    client-flood, host-conntrack)."""
    from pydantic import ValidationError

    from tunekit import audit, capacity, profiles, report

    if role not in ROLE_PROFILES:
        raise UsageError(f"--role {role!r}: expected server, client or host")
    base = profiles.load(ROLE_PROFILES[role]).workload.model_dump()
    given = {
        "connections": parse_count(conns),
        "rate": rate,
        "destinations": destinations,
        "source_ips": source_ips,
        "bytes_buffered": bytes_buffered,
        "app_bytes": app_bytes,
        "processes": processes,
        "closes": closes,
        "listen_backlog": listen_backlog,
    }
    try:
        workload = profiles.Workload.model_validate(
            {**base, **{k: v for k, v in given.items() if v is not None}}
        )
    except ValidationError as err:
        e = err.errors()[0]
        flag = "--" + str(e["loc"][0]).replace("_", "-")
        raise UsageError(f"{flag}: {e['msg']}") from None
    prof = profiles.Profile(name=ROLE_PROFILES[role], workload=workload)
    result = audit.run(
        prof,
        "--role " + role,
        root=root,
        snapshot=snapshot,
        mem_total=parse_size(mem_total),
        const=parse_consts(const),
        state=audit.state_dir(None, root),
    )
    est, cal, facts = result.estimate, result.calibration, result.facts
    if json_out:
        doc = est.to_dict()
        doc["calibration"] = cal.to_dict() if cal else None
        doc["workload"] = workload.model_dump()
        doc["workload_defaults_from"] = ROLE_PROFILES[role]
        doc["source"] = facts.source
        doc["constant_sources"] = {k: v.source for k, v in capacity.CONSTANTS.items()}
        emit_json(doc, "estimate")
    else:
        typer.echo(f"(workload values not given come from profile {ROLE_PROFILES[role]})")
        if cal:
            typer.echo(f"({cal.describe()})")
        typer.echo(report.render_estimate(est, facts.source))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@app.command()
@handled
def probe(
    conns: Annotated[
        str, typer.Option("--conns", help="Connections to open and hold (3000, 200k, 1M).")
    ],
    source_ips: Annotated[
        Optional[int],
        typer.Option(
            help="Source addresses in 127.0.0.0/8; default: enough that each (source, destination) "
            "pair uses at most 30 % of the live port range."
        ),
    ] = None,
    destinations: Annotated[
        Optional[int],
        typer.Option(
            help="Listening ports (destinations) on 127.0.0.1, each with accepting workers of "
            "its own; default 1."
        ),
    ] = None,
    rate: Annotated[
        Optional[int],
        typer.Option(
            help="New connections per second, all workers together; default: as fast as it can."
        ),
    ] = None,
    hold: Annotated[float, typer.Option(help="Seconds to hold the connections open.")] = 2.0,
    conntrack: Annotated[
        bool,
        typer.Option(
            "--conntrack",
            help="Add a conntrack rule in the namespace, so every flow is tracked "
            "as on a firewall or hypervisor (needs nft).",
        ),
    ] = False,
    accept_pause: Annotated[
        int,
        typer.Option(
            help="Milliseconds the acceptors wait before accepting: a stalled server whose accept "
            "queue (somaxconn) must absorb the arrivals."
        ),
    ] = 0,
    nofile: Annotated[
        Optional[int],
        typer.Option(
            help="Open-files limit each worker sets (default: the hard limit, as a server that "
            "raises its soft limit does)."
        ),
    ] = None,
    connect_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a connection may wait to be accepted before it counts as failed."
        ),
    ] = 5.0,
    send: Annotated[
        int,
        typer.Option(
            help="Bytes each connection sends that the other side never reads, so they sit in "
            "receive queues: measures what buffered bytes cost (tcp_mem pages, slab)."
        ),
    ] = 0,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Write the measured bytes per socket (and per conntrack entry, and "
            "with --send the buffer factor) to the local calibration that "
            "estimate and check use.",
        ),
    ] = False,
    const: ConstOpt = None,
    state_dir_opt: Annotated[
        Optional[Path],
        typer.Option(
            "--state-dir",
            help="Where --calibrate writes (default $TUNEKIT_STATE_DIR, else /var/lib/tunekit).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Open N connections for real in a private network namespace and report what stopped it.

    Listens on loopback, connects from worker processes that each stay within RLIMIT_NOFILE,
    holds, and tears everything down (also on Ctrl-C). It copies the per-namespace sysctls
    of the namespace it starts in, never changes the host's, and compares what each
    connection cost in kernel memory with the estimate for the same settings.
    Exit 0 all N held with no failure, 1 stopped short or a limit was hit, 2 bad input,
    3 not permitted (needs root)."""
    import gc
    import resource
    import signal

    from tunekit import audit, host, loadgen, netns, report
    from tunekit import probe as probing

    count = parse_required_count(conns)
    for flag, value in (("--hold", hold), ("--connect-timeout", connect_timeout)):
        if not 0 <= value <= 86_400:
            raise UsageError(f"{flag} {value:g}: expected 0 to 86400 seconds")
    if connect_timeout <= 0:
        raise UsageError("--connect-timeout must be more than 0")
    if rate is not None and rate < 1:
        raise UsageError(f"--rate {rate}: expected at least 1 connection per second")
    if not 0 <= send <= 1 << 20:
        raise UsageError(f"--send {send}: expected 0 to 1048576 bytes")
    if not 0 <= accept_pause <= 600_000:
        raise UsageError(f"--accept-pause {accept_pause}: expected 0 to 600000 ms")
    if calibrate and count < probing.CALIBRATE_MIN:
        raise UsageError(
            f"--calibrate needs --conns of at least {probing.CALIBRATE_MIN:,}",
            "below that, slab noise swamps the per-socket figure",
        )
    if os.geteuid() != 0:
        raise NotPermitted(
            "probe creates a network namespace: run it as root",
            "tunekit estimate gives the same answer from the model alone",
        )
    if conntrack:
        netns.require_nft()
    facts = host.read_facts(addresses=False)
    state = audit.state_dir(state_dir_opt)
    if calibrate:
        from tunekit import calibration

        calibration.prepare(state)  # before the run, not after it: nothing measured is lost
    c, _ = audit.load_constants(parse_consts(const), facts, state)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    lay = probing.layout_for(facts, count, hard, source_ips, destinations, nofile)
    probing.check_memory(lay, c["socket_bytes"], facts.mem_available)
    probing.check_buffers(lay, send, c, facts)
    est = probing.same_settings_estimate(lay, facts, c, hard, send)
    gc.enable()  # a long-running command; entry.py turned it off for start-up speed
    signal.signal(signal.SIGTERM, _interrupt)  # tear down on kill as on Ctrl-C
    show = report.ProbeProgress(count, sys.stderr)
    runner = loadgen.Coordinator(
        lay, rate or 0, connect_timeout, hold, accept_pause / 1000, progress=show, send=send
    )
    try:
        outcome = runner.run(conntrack)
    finally:
        show.clear()
    result = probing.result(lay, outcome, est, c, conntrack, send)
    if calibrate:
        from datetime import datetime

        from tunekit import calibration

        modelled = (est.need("tcp_mem_pages") / c["buffer_factor"] / count) if send else 0.0
        values = probing.calibration_values(outcome.memory, conntrack, send, modelled)
        if not values:  # the run is still reported; only the calibration is not written
            typer.echo(
                f"tunekit: not calibrated: fewer than {probing.CALIBRATE_MIN:,} "
                "connections were held",
                err=True,
            )
        else:
            kernel = facts.kernel or os.uname().release
            calibration.save(
                state,
                kernel,
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tunekit " + " ".join(sys.argv[1:]),
                outcome.established,
                values,
            )
            saved = calibration.load(state, kernel)
            if saved:
                from tunekit.documents import Calibration

                result.calibration = Calibration.model_validate(saved.to_dict())
    if json_out:
        emit_json(result.model_dump(mode="json"), "probe")
    else:
        typer.echo(report.render_probe(result))
    raise typer.Exit(0 if result.complete else 1)


@app.command()
@handled
def lint(
    files: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Files to lint, in the order they apply ('-' reads standard input). None: "
            "everything that applies at the next boot (sysctl.d search path, sysctl.conf, "
            "limits.conf and limits.d, systemd system.conf(.d), modprobe.d).",
            show_default=False,
        ),
    ] = None,
    root: RootOpt = None,
    profile: Annotated[
        Optional[str],
        typer.Option(help="Also report values that fail this profile's targets (conflict)."),
    ] = None,
    fail_on: Annotated[
        Optional[str],
        typer.Option(
            help="Verdicts that make the exit code 1, comma-separated, or all or none "
            "[default: harmful,dead,syntax,units].",
            show_default=False,
        ),
    ] = None,
    container: Annotated[
        Optional[bool],
        typer.Option(
            "--container/--no-container",
            help="Lint as the configuration of a container (its own network namespace); "
            "default: detected (the running namespace has no global net keys).",
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        Optional[str],
        typer.Option(help="Check version-dependent rules for this kernel (e.g. 5.15)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Flag dead, harmful, no-op and mistaken tuning lines, with why, fix and source.

    Exit 0: no finding at or above --fail-on; 1: some; 2: bad input (a file that is not
    one of the formats above, an unknown verdict)."""
    from tunekit import lint as linting

    fails = linting.parse_fail_on(fail_on)
    base = root or Path("/")
    if root is not None:
        from tunekit import host

        host.check_root(root)
    if kernel is not None:
        try:
            linting.parse_version(kernel)
        except ValueError:
            raise UsageError(f"--kernel {kernel!r}: expected a version such as 6.8") from None
    machine = linting.Host.of_root(base, container, kernel)
    boot, modules, unreadable = linting.boot_inputs(base)
    machine.modules_at_boot = modules
    if files:
        stdin = _read_stdin() if "-" in files else None
        inputs = [linting.read_input(f, stdin) for f in files]
    else:
        inputs = boot
    targets = _profile_targets(profile, root) if profile else None
    report = linting.lint(inputs, machine, profile=targets, mode="files" if files else "boot")
    report.unreadable = [] if files else unreadable
    if json_out:
        emit_json(report.to_dict(fails), "lint")
    else:
        typer.echo(linting.render_text(report, fails))
    raise typer.Exit(1 if report.failing(fails) else 0)


def _read_stdin(limit: int = 1 << 20) -> str:
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise UsageError(f"standard input: larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("standard input: not text (not UTF-8)") from None


def _profile_targets(profile: str, root: Path | None) -> tuple[str, list]:
    from tunekit import audit

    state = audit.state_dir(None, root)
    prof, why = audit.load_profile(profile, None, state)
    result = audit.run(prof, why, root=root, state=state)
    return prof.name, result.targets


@app.command()
@handled
def schema(
    document: Annotated[
        str,
        typer.Argument(
            help="check, estimate, apply, rollback, probe, profiles, profiles-show or lint."
        ),
    ],
) -> None:
    """Print the JSON Schema of a command's --json document."""
    import json

    from tunekit.documents import SCHEMAS

    if document not in SCHEMAS:
        raise UsageError(f"no document {document!r}", f"one of: {', '.join(SCHEMAS)}")
    typer.echo(json.dumps(SCHEMAS[document].model_json_schema(), indent=2))


@profiles_app.callback()
@handled
def profiles_list(
    ctx: typer.Context,
    json_out: JsonOpt = False,
) -> None:
    """List the profiles found: built-ins, /etc/tunekit/profiles, ~/.config/tunekit/profiles."""
    if ctx.invoked_subcommand is not None:
        return
    from tunekit import profiles

    rows = []
    for name, path in sorted(profiles.available().items()):
        try:
            p = profiles.load(str(path))
            rows.append(
                {
                    "name": name,
                    "role": p.workload.role,
                    "connections": p.workload.connections,
                    "description": p.description,
                    "path": str(path),
                    "error": None,
                }
            )
        except TunekitError as err:
            rows.append(
                {
                    "name": name,
                    "role": None,
                    "connections": None,
                    "description": "",
                    "path": str(path),
                    "error": err.message,
                }
            )
    if json_out:
        emit_json(
            {"profiles": rows, "search_path": [str(d) for d in profiles.search_path()]},
            "profiles",
        )
        return
    for r in rows:
        if r["error"]:
            typer.echo(f"{r['name']:16} INVALID: {r['error']}")
        else:
            typer.echo(f"{r['name']:16} {r['role']:7} {r['connections']:>11,}  {r['description']}")
    typer.echo("\nSearch path (later wins): " + ", ".join(str(d) for d in profiles.search_path()))


@profiles_app.command("show")
@handled
def profiles_show(
    name: Annotated[str, typer.Argument(help="Profile name or path.")],
    conns: ConnsOpt = None,
    root: RootOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a profile's workload and resolved targets, each with its reason and source."""
    from tunekit import audit
    from tunekit.check import describe

    state = audit.state_dir(None, root)
    prof, why = audit.load_profile(name, parse_count(conns), state)
    result = audit.run(prof, why, root=root, state=state)
    pinned = {(t.key, t.index) for t in prof.targets}
    targets = result.targets
    if json_out:
        emit_json(
            {
                "name": prof.name,
                "description": prof.description,
                "path": prof.path,
                "extends": prof.extends,
                "workload": prof.workload.model_dump(),
                "calibration": result.calibration.to_dict() if result.calibration else None,
                "targets": [
                    {**t.model_dump(), "pinned": (t.key, t.index) in pinned} for t in targets
                ],
            },
            "profiles-show",
        )
        return
    typer.echo(f"{prof.name}: {prof.description}\n  from {prof.path}")
    typer.echo(
        "  workload: " + ", ".join(f"{k}={v}" for k, v in prof.workload.model_dump().items())
    )
    if result.calibration:
        typer.echo(f"  {result.calibration.describe()}")
    typer.echo("")
    for t in targets:
        tag = "pinned" if (t.key, t.index) in pinned else "derived"
        typer.echo(f"  {t.label} {describe(t)}  [{tag}]\n      {t.reason} ({t.source})")


def main() -> None:
    """Run the CLI. Typer's own usage errors (an unknown option, a missing value, a bad
    integer) become one `tunekit: error:` line and exit 2, like tunekit's own errors."""
    from typer._click import exceptions as click_errors

    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:
        typer.echo(err.ctx.get_help() if err.ctx else str(err))
        code = 0
    except click_errors.UsageError as err:
        typer.echo(f"tunekit: error: {err.format_message()}", err=True)
        if err.ctx is not None:
            typer.echo(f"  hint: {err.ctx.command_path} --help", err=True)
        code = 2
    except typer.Abort:
        typer.echo("tunekit: interrupted", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
