"""export ansible: a task list that writes the same files as `export sysctl`, byte for byte,
and loads the sysctl.d one into the running kernel when it changed.

Only modules that ship with ansible-core are used (ansible.builtin.file, .copy, .command);
no collection is needed, ansible.posix included. The file contents are the writers' own
rendering, carried in `content:`; `tunekit_root` (default: none, the managed host's /)
puts them under another tree, and the runtime step runs only on the live host.
"""

from __future__ import annotations

import re

from tunekit.export import Exported, ExportFile, header_lines, yaml
from tunekit.model.facts import HostFacts
from tunekit.model.plan import Plan
from tunekit.persist.writers import sysctl_d

TASKS = "tasks/main.yml"
DEFAULTS = "defaults/main.yml"
ROOT = "(tunekit_root | default('') | regex_replace('/+$', ''))"
NEVER_LOWER = (
    "these are fixed values planned on one host: copied to a host that already has more "
    "(an open-files maximum systemd raised at boot, a bigger TCP memory limit), they lower "
    "it. tunekit itself never lowers a limit that already satisfies an 'at least' target; "
    "this static form cannot keep that rule: run the module tunekit.tunekit.tune (state: "
    "applied) where tunekit can be installed"
)


def _var(path: str) -> str:
    return "tunekit_" + re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def export(plan: Plan, facts: HostFacts) -> Exported:
    tasks: list = []
    name = plan.profile
    for f in plan.files:
        parent = f.path.rpartition("/")[0]
        tasks.append(
            {
                "name": f"tunekit {name}: directory /{parent}",
                "ansible.builtin.file": {
                    "path": f"{{{{ {ROOT} }}}}/{parent}",
                    "state": "directory",
                },
            }
        )
        task: dict = {
            "name": f"tunekit {name}: /{f.path}",
            "ansible.builtin.copy": {
                "dest": f"{{{{ {ROOT} }}}}/{f.path}",
                "content": f.content,
                "mode": "0644",
            },
            "register": _var(f.path),
        }
        tasks.append(task)
        if f.path == sysctl_d.PATH:
            tasks.append(
                {
                    "name": f"tunekit {name}: load /{f.path} into the running kernel",
                    "ansible.builtin.command": {"argv": ["sysctl", "-e", "-p", f"/{f.path}"]},
                    "when": [f"{_var(f.path)} is changed", f"{ROOT} == ''"],
                }
            )
    notes = [NEVER_LOWER]
    decided = plan.decided
    if decided and any(s.to_modprobe for s in decided.settings):
        notes.append(
            "module parameters (modprobe.d) take effect when the module next loads; "
            "`tunekit apply` also writes them to /sys/module at once, these tasks do not"
        )
    comments = header_lines(plan, "ansible") + [
        "",
        "Modules: ansible.builtin.file, ansible.builtin.copy and ansible.builtin.command,",
        "all shipped with ansible-core (no ansible.posix). The directory is a role: `roles:",
        "[./DIR]`, or `ansible.builtin.include_tasks: DIR/tasks/main.yml`. Set tunekit_root",
        "to write under another tree; the running kernel is changed only without it.",
        "Directories are created with the default mode and existing ones left as they are.",
        "",
        *(f"NOTE: {n}" for n in notes),
    ]
    files = [ExportFile(path=TASKS, content=yaml.dump(tasks, comments))]
    files.append(
        ExportFile(
            path=DEFAULTS,
            content=yaml.dump(
                {"tunekit_root": ""}, ["tunekit_root: write under this tree instead of /"]
            ),
        )
    )
    if not plan.files:
        notes.append("this host already meets every target: the task list is empty")
    return Exported(files=files, notes=notes)
