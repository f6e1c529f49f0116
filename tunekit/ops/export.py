"""`export`: the plan `apply --dry-run` makes, rendered for another tool (export/), and
written under --output or returned to be shown."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError
from tunekit.ops import audit
from tunekit.output.documents.export import Export


@dataclass
class ExportOptions:
    format: str
    profile: str | None = None  # name or path; None: the last applied, else server-1M
    conns: int | None = None
    output: Path | None = None  # write the files under this directory; None: show them
    root: Path | None = None  # plan against this tree instead of the live host
    mem_total: int | None = None  # that tree's RAM, when it has no proc/meminfo


def _write(output: Path, files) -> None:
    """Each file under `output`, created as needed; nothing is written outside it (rootfs:
    a symlink inside cannot lead out)."""
    from tunekit.host.rootfs import Root

    if output.resolve() == Path("/"):
        raise UsageError(
            "--output /: that is the host itself",
            "tunekit apply writes the same files there, with a journal to undo them",
        )
    try:
        output.mkdir(parents=True, exist_ok=True)
        with Root(output) as r:
            for f in files:
                parent = f.path.rpartition("/")[0]
                if parent:
                    r.makedirs(parent)
                r.write(f.path, f.content)
    except OSError as err:
        raise NotPermitted(
            f"--output {output}: cannot write {err.filename or ''}: {err.strerror or err}"
        ) from err


def export(o: ExportOptions) -> Export:
    from tunekit import export as exporters
    from tunekit.ops.apply import ApplyOptions, make_plan

    if o.format not in exporters.FORMATS:
        raise UsageError(
            f"export {o.format!r}: unknown format", "one of: " + ", ".join(exporters.FORMATS)
        )
    plan, facts = make_plan(
        ApplyOptions(profile=o.profile, conns=o.conns, root=o.root, mem_total=o.mem_total),
        audit.state_dir(None, o.root),
    )
    out = exporters.render(o.format, plan, facts)
    if o.output is not None:
        _write(o.output, out.files)
    return Export(
        format=o.format,
        profile=plan.profile,
        profile_why=plan.profile_why,
        root=plan.root,
        files=out.files,
        notes=out.notes,
        left_alone=plan.left_alone,
        unfit=plan.unfit,
        output=str(o.output) if o.output is not None else None,
    )
