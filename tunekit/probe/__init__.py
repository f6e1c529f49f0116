"""probe: real connections in a private network namespace, and what stopped them.

layout.py plans them, loadgen.py (with netns.py and workers.py) opens them, verdicts.py
says what stopped them and what they cost. The use case is
`tunekit.probe.run(ProbeOptions(...))` (ops/probe.py).

probe --target loads the user's own servers instead: targets.py says what it may connect
to, client.py is the coordinator as a client, causes.py says what stopped the climb. The
use case is `tunekit.probe.run_target(TargetProbeOptions(...))`; its `.doc` is the
probe-target document.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("run", "ProbeOptions"):
        from tunekit.ops.probe import ProbeOptions, probe

        return probe if name == "run" else ProbeOptions
    if name in ("run_target", "TargetProbeOptions"):
        from tunekit.ops.probe import TargetProbeOptions, probe_target

        return probe_target if name == "run_target" else TargetProbeOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
