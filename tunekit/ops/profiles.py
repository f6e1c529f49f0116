"""`profiles`: the profiles found, and one profile's resolved targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunekit.errors import TunekitError
from tunekit.ops import audit
from tunekit.output.documents.profiles import ProfileRow, Profiles, ProfileShow, ShownTarget


def list_profiles() -> Profiles:
    """Built-ins, /etc/tunekit/profiles, ~/.config/tunekit/profiles; a broken one is listed
    with its error, not fatal."""
    from tunekit.knowledge import profiles

    rows = []
    for name, path in sorted(profiles.available().items()):
        try:
            p = profiles.load(str(path))
            rows.append(
                ProfileRow(
                    name=name,
                    role=p.workload.role,
                    connections=p.workload.connections,
                    description=p.description,
                    path=str(path),
                    error=None,
                )
            )
        except TunekitError as err:
            rows.append(
                ProfileRow(
                    name=name,
                    role=None,
                    connections=None,
                    description="",
                    path=str(path),
                    error=err.message,
                )
            )
    return Profiles(profiles=rows, search_path=[str(d) for d in profiles.search_path()])


@dataclass
class ShowOptions:
    name: str
    conns: int | None = None
    root: Path | None = None


def show(o: ShowOptions) -> ProfileShow:
    state = audit.state_dir(None, o.root)
    prof, why = audit.load_profile(o.name, o.conns, state, o.root)
    result = audit.run(prof, why, root=o.root, state=state)
    pinned = {(t.key, t.index) for t in prof.targets}
    return ProfileShow(
        name=prof.name,
        description=prof.description,
        path=prof.path,
        extends=prof.extends,
        workload=prof.workload.model_dump(),
        calibration=result.calibration,
        targets=[
            ShownTarget(**t.model_dump(), pinned=(t.key, t.index) in pinned) for t in result.targets
        ],
    )
