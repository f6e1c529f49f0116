"""sysctl.d: one drop-in with every sysctl the plan persists, each line under its reason.

systemd-sysctl (or `sysctl --system`) applies it at boot; a file later in the boot order
that sets the same key wins, which apply reports (host/bootset.py later_assignments).
"""

from __future__ import annotations

from tunekit.model.plan import FileWrite, Persisted, Setting
from tunekit.persist.writers.base import FileWriter, header

PATH = "etc/sysctl.d/90-tunekit.conf"


def settings(p: Persisted) -> list[Setting]:
    """The settings this file carries, in its order: export's TuneD, Ansible and Kubernetes
    forms carry exactly these."""
    return [s for s in p.settings if s.to_sysctl_d]


class SysctlD(FileWriter):
    kind = "sysctl.d"

    def paths(self, unit: str | None = None) -> list[str]:
        return [PATH]

    def render(self, p: Persisted) -> list[FileWrite]:
        body = [f"# {s.reason} ({s.source})\n{s.key.name} = {s.text}\n" for s in settings(p)]
        if not body:
            return []
        what = "kernel settings, applied at boot by systemd-sysctl or `sysctl --system`"
        return [FileWrite(path=PATH, content=header(p.profile, what) + "\n" + "\n".join(body))]


WRITER = SysctlD()
