"""export sysctl: the exact drop-in files apply would write (sysctl.d, modprobe.d,
limits.d, systemd), as the writers rendered them into the plan."""

from __future__ import annotations

from tunekit.export import Exported, ExportFile
from tunekit.model.facts import HostFacts
from tunekit.model.plan import Plan


def export(plan: Plan, facts: HostFacts) -> Exported:
    out = Exported(files=[ExportFile(path=f.path, content=f.content) for f in plan.files])
    if out.files:
        out.notes.append(
            "the files take effect at the next boot (systemd-sysctl, pam_limits, systemd, "
            "modprobe); `sysctl --system` loads the sysctl.d file now. Rollback is yours: "
            "remove them (tunekit apply journals what it replaces; a copied file does not)"
        )
    return out
