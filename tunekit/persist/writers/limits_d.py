"""limits.d: the open-files limits of login sessions (pam_limits).

pam_limits never reaches systemd services (systemd.py covers them), and a `*` line skips
root, so root has lines of its own. The hard limit is raised for everyone; the soft one
stays 1024 unless the profile asks otherwise (soft_nofile_everywhere): programs that use
select() break past descriptor 1023.
"""

from __future__ import annotations

from tunekit.model.plan import FileWrite, Persisted
from tunekit.persist.writers.base import FileWriter, header

PATH = "etc/security/limits.d/90-tunekit.conf"
SOFT_EVERYWHERE_NOTE = (
    "# the soft limit too, as the profile asks (soft_nofile_everywhere): programs that use "
    "select() break past descriptor 1023\n"
)
HARD_ONLY_NOTE = (
    "# hard limit only: each program raises its soft limit itself; 1024 stays the default "
    "because select() breaks past descriptor 1023\n"
)


class LimitsD(FileWriter):
    kind = "limits.d"

    def paths(self, unit: str | None = None) -> list[str]:
        return [PATH]

    def render(self, p: Persisted) -> list[FileWrite]:
        n, everywhere = p.nofile, p.opts.soft_everywhere
        if n is None or p.opts.scope == "namespace" or not (n.raise_hard or everywhere):
            return []
        if n.keep_sessions:
            return []  # the root's own limits.conf gives unlimited: anything here lowers it
        lines = f"*    hard nofile {n.hard}\nroot hard nofile {n.hard}\n"
        if everywhere:
            lines = (
                f"*    soft nofile {n.soft}\n*    hard nofile {n.hard}\n"
                f"root soft nofile {n.soft}\nroot hard nofile {n.hard}\n"
            )
        what = (
            "open files for login sessions (pam_limits; never reaches services; "
            "'*' skips root, so root has its own lines)"
        )
        note = SOFT_EVERYWHERE_NOTE if everywhere else HARD_ONLY_NOTE
        return [FileWrite(path=PATH, content=header(p.profile, what) + note + lines)]


WRITER = LimitsD()
