"""systemd: the default open-files limits of services, and the workload's own unit.

limits.d never reaches services. DefaultLimitNOFILE= in system.conf.d gives every service
the raised hard limit (soft 1024 unless the profile asks otherwise); LimitNOFILE= in the
unit's drop-in (--unit) gives the workload both.
"""

from __future__ import annotations

from tunekit.model.plan import DEFAULT_SOFT, FileWrite, Persisted, unit_full_name
from tunekit.persist.writers.base import FileWriter, header

PATH = "etc/systemd/system.conf.d/90-tunekit.conf"
RELOAD = (
    "takes effect for services started after `systemctl daemon-reload` (systemd 223 "
    "and later reload system.conf on daemon-reload, systemd NEWS v223; older ones need "
    "daemon-reexec); running services keep their limit until restarted"
)


def unit_path(unit: str) -> str:
    return f"etc/systemd/system/{unit_full_name(unit)}.d/90-tunekit.conf"


class Systemd(FileWriter):
    kind = "systemd"

    def paths(self, unit: str | None = None) -> list[str]:
        return [PATH] + ([unit_path(unit)] if unit else [])

    def render(self, p: Persisted) -> list[FileWrite]:
        n, opts = p.nofile, p.opts
        if n is None or opts.scope == "namespace":
            return []
        out = []
        if (n.raise_hard or opts.soft_everywhere) and not (n.keep_services or n.no_systemd):
            # never below the soft limit the root's own system.conf gives services
            soft = max(n.soft if opts.soft_everywhere else DEFAULT_SOFT, n.services_soft)
            out.append(
                FileWrite(
                    path=PATH,
                    content=header(p.profile, "default open files for systemd services; " + RELOAD)
                    + f"[Manager]\nDefaultLimitNOFILE={min(soft, n.hard)}:{n.hard}\n",
                )
            )
        if opts.unit:
            unit = unit_full_name(opts.unit)
            what = (
                f"open files for {unit}, soft and hard: the workload lives here; "
                f"takes effect after `systemctl daemon-reload` and a restart of {unit}"
            )
            out.append(
                FileWrite(
                    path=unit_path(opts.unit),
                    content=header(p.profile, what) + f"[Service]\nLimitNOFILE={n.soft}:{n.hard}\n",
                )
            )
        return out


WRITER = Systemd()
