"""export: the plan `apply` would carry out on a host, in the forms of the tools that tune
fleets without tunekit: plain drop-ins (sysctl), Ansible tasks, a TuneD profile, and
Kubernetes' securityContext.

Every exporter starts from the same Plan as `apply --dry-run` (ops/apply.make_plan) and
renders it through the same writers (persist/writers): the drop-in files are the writers'
own output, and the TuneD, Ansible and Kubernetes forms carry the settings the sysctl.d
writer carries (sysctl_d.settings), with its values. An export and an apply cannot differ;
what a format cannot say (TuneD's `>` on a triple, a static file's "never lower") is a note.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tunekit.model.base import Model

if TYPE_CHECKING:
    from tunekit.model.facts import HostFacts
    from tunekit.model.plan import Plan

Format = Literal["sysctl", "ansible", "tuned", "kubernetes"]
FORMATS: tuple[str, ...] = ("sysctl", "ansible", "tuned", "kubernetes")


class ExportFile(Model):
    path: str  # relative to --output
    content: str


@dataclass
class Exported:
    files: list[ExportFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the format cannot say, for people


def render(fmt: str, plan: Plan, facts: HostFacts) -> Exported:
    """The files of one format, from the plan (its `decided` settings, as the writers
    rendered them)."""
    module = importlib.import_module(f"tunekit.export.{fmt}")
    return module.export(plan, facts)


def header_lines(plan: Plan, fmt: str) -> list[str]:
    """Where an export came from, as comment lines (without the comment sign)."""
    return [
        f"Written by `tunekit export {fmt}` for profile {plan.profile} ({plan.profile_why}),",
        f"planned against root {plan.root} as `tunekit apply --dry-run` plans it: only the",
        "targets that host fails are here (an empty --root gives every target).",
    ]
