"""probe: real connections in a private network namespace, and what stopped them.

layout.py plans them, loadgen.py (with netns.py and workers.py) opens them, verdicts.py
says what stopped them and what they cost. The use case is
`tunekit.probe.run(ProbeOptions(...))` (ops/probe.py).
"""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("run", "ProbeOptions"):
        from tunekit.ops.probe import ProbeOptions, probe

        return probe if name == "run" else ProbeOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
