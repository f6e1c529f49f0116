"""Whose open-files limit: a live process by pid or name, or a systemd unit."""

from __future__ import annotations

import resource
import shutil
import subprocess
from pathlib import Path

from tunekit.errors import NotPermitted, UsageError


def nofile_of_pid(pid: int) -> tuple[tuple[int, int], str]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.rlimit(psutil.RLIMIT_NOFILE), f"pid {pid} ({proc.name()})"
    except psutil.NoSuchProcess as err:
        raise UsageError(f"--pid {pid}: no such process") from err
    except psutil.AccessDenied as err:
        raise NotPermitted(
            f"--pid {pid}: not permitted to read its limits",
            "run as root or as the process's owner",
        ) from err


def nofile_of_process(name: str) -> tuple[tuple[int, int], str]:
    import psutil

    matches = [p for p in psutil.process_iter(["name", "pid"]) if p.info["name"] == name]
    if not matches:
        raise UsageError(f"--process {name!r}: no running process has that name")
    first = min(matches, key=lambda p: p.info["pid"])
    limits, who = nofile_of_pid(first.info["pid"])
    more = f", first of {len(matches)}" if len(matches) > 1 else ""
    return limits, f"{who}{more}"


def _parse_limit(value: str) -> int:
    return resource.RLIM_INFINITY if value == "infinity" else int(value)


def nofile_of_unit(unit: str, root: Path = Path("/")) -> tuple[tuple[int, int], str]:
    """LimitNOFILE of a systemd unit, from systemd itself."""
    if not (root / "run/systemd/system").is_dir() or not shutil.which("systemctl"):
        raise NotPermitted(
            f"--unit {unit}: not available here: systemd is not running",
            "use --pid or --process to audit a running service",
        )
    try:
        out = subprocess.run(
            ["systemctl", "show", "-p", "LimitNOFILESoft", "-p", "LimitNOFILE", "--", unit],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as err:
        raise NotPermitted(f"--unit {unit}: systemctl failed: {err}") from err
    props = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    try:
        return (
            (_parse_limit(props["LimitNOFILESoft"]), _parse_limit(props["LimitNOFILE"])),
            f"unit {unit}",
        )
    except (KeyError, ValueError) as err:
        raise UsageError(f"--unit {unit}: systemd reported no LimitNOFILE") from err
