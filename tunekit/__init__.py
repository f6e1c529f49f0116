"""tunekit: Linux kernel tuning for hosts that hold or open millions of TCP connections.

The public API is the operations layer, one function per use case (typed options in, the
document the command prints out); importing tunekit imports none of it until it is used:

    import tunekit
    doc = tunekit.check(tunekit.CheckOptions(profile="server-1M"))
    doc.compliant, doc.findings
    plan = tunekit.plan(tunekit.ApplyOptions(profile="client-flood", root=Path("/mnt/img")))
    report = tunekit.lint.run(tunekit.lint.LintOptions(files=["/etc/sysctl.conf"]))

(lint and probe are packages of their own: their use cases are tunekit.lint.run and
tunekit.probe.run.)

The package, in the order data flows (docs/development.md draws it): knowledge/ (the key
catalogue, lint's rules, the profiles), model/ (the pure engine), host/ (reading a host or
an image), persist/ (writing: one writer per kind, the journal), lint/, probe/, ops/ (the
use cases), output/ (documents and text), cli/.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

# name -> module of the operations layer that defines it
_API = {
    "check": "tunekit.ops.check",
    "CheckOptions": "tunekit.ops.check",
    "estimate": "tunekit.ops.estimate",
    "EstimateOptions": "tunekit.ops.estimate",
    "plan": "tunekit.ops.apply",
    "apply": "tunekit.ops.apply",
    "ApplyOptions": "tunekit.ops.apply",
    "rollback": "tunekit.ops.rollback",
    "RollbackOptions": "tunekit.ops.rollback",
    "undoable": "tunekit.ops.rollback",
    "status": "tunekit.ops.status",
    "StatusOptions": "tunekit.ops.status",
}
_RENAMED = {"plan": "dry_run"}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'tunekit' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), _RENAMED.get(name, name))
