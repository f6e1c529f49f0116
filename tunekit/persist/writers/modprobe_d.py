"""modprobe.d: one file per kernel module, with its parameters and its own sysctls.

Only for a module that is loadable: one built into the kernel never reads modprobe.d, so
its parameters go in sysctl.d instead (the plan decides: model/plan.py _persist_as).

systemd-sysctl may run before the module loads (then its keys do not exist yet), and a
hashsize= given at load makes the kernel set nf_conntrack_max to 8 x hashsize
(nf_conntrack_init_start): the `install` line puts the planned values back however and
whenever the module loads.
"""

from __future__ import annotations

from tunekit.knowledge import catalogue as K
from tunekit.model.plan import FileWrite, Persisted
from tunekit.persist.writers.base import FileWriter, header

DIR = "etc/modprobe.d"


def path(module: str) -> str:
    return f"{DIR}/tunekit-{module}.conf"


class ModprobeD(FileWriter):
    kind = "modprobe.d"

    def paths(self, unit: str | None = None) -> list[str]:
        return [path(m) for m in sorted(K.module_keys())]

    def render(self, p: Persisted) -> list[FileWrite]:
        if p.opts.scope == "namespace":  # module parameters belong to the host
            return []
        out = []
        modules = dict.fromkeys(s.key.module for s in p.settings if s.key.module)
        for module in modules:
            if module in p.builtin:  # never loaded by modprobe: its keys are in sysctl.d
                continue
            mine = [s for s in p.settings if s.key.module == module]
            params = [s for s in mine if s.to_modprobe]
            sysctls = [s for s in mine if s.persist == "sysctl.d"]
            lines = []
            if params:
                lines.append(
                    f"options {module} " + " ".join(f"{s.key.param}={s.text}" for s in params)
                )
            if sysctls:
                echo = " && ".join(f"echo {s.text} > /{s.key.proc_path}" for s in sysctls)
                lines.append(
                    f"install {module} /sbin/modprobe --ignore-install {module} "
                    f"$CMDLINE_OPTS && {echo}"
                )
            why = "".join(f"# {s.key.name}: {s.reason}\n" for s in mine)
            what = f"{module} settings, applied when the module loads"
            content = header(p.profile, what) + why + "\n".join(lines) + "\n"
            out.append(FileWrite(path=path(module), content=content))
        return out


WRITER = ModprobeD()
