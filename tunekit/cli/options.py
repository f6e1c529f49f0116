"""The options several commands share, and the parsers behind them: one definition each."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from tunekit.errors import UsageError

# 1000000, 1_000_000, 1,000,000 (groups of three), 1.5M, 200k
_CONNS_RE = re.compile(
    r"^\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+|[0-9]{1,12})"
    r"(\.[0-9]{1,6})?\s*([kKmM]?)\s*$"
)


def parse_count(text: str | None, flag: str = "--conns") -> int | None:
    """'1000000', '1_000_000', '1,000,000', '200k', '1.5M' -> int; anything else exits 2."""
    if text is None:
        return None
    return parse_required_count(text, flag)


def parse_required_count(text: str, flag: str = "--conns") -> int:
    from tunekit.model.profiles import MAX_CONNECTIONS

    m = _CONNS_RE.match(text)
    if not m:
        raise UsageError(
            f"{flag} {text!r}: not a number",
            "give a positive whole number, e.g. 1000000, 1_000_000, 200k or 1M",
        )
    digits = m.group(1).replace("_", "").replace(",", "") + (m.group(2) or "")
    value = float(digits) * {"": 1, "k": 1e3, "m": 1e6}[m.group(3).lower()]
    if value != int(value) or value < 1:
        raise UsageError(f"{flag} {text!r}: must be a whole number of at least 1")
    if value > MAX_CONNECTIONS:
        raise UsageError(
            f"{flag} {text!r}: more than {MAX_CONNECTIONS:,}",
            "no single host holds that many: ~4.2 KB of kernel memory each",
        )
    return int(value)


def parse_consts(items: list[str] | None) -> dict[str, float]:
    """NAME=VALUE pairs; a value is a finite number from 1e-6 to 1e12 (no nan, inf, 1e400)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            number = float(value) if sep and len(value) <= 32 else math.nan
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and 1e-6 <= number <= 1e12):
            raise UsageError(
                f"--const {item[:60]!r}: expected NAME=NUMBER, a number from 0.000001 to 1e12"
            )
        out[name.strip()] = number
    return out


def parse_size(text: str | None, flag: str = "--mem-total") -> int | None:
    """'34359738368', '32G', '32GiB', '512M' -> bytes (binary units); else exits 2."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*([0-9]{1,15})\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise UsageError(
            f"{flag} {text!r}: not a size",
            "give bytes, or a number with K, M, G or T (binary), e.g. 32G",
        )
    value = int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]
    if not 1 << 20 <= value <= 1 << 50:
        raise UsageError(f"{flag} {text!r}: expected 1 MiB to 1 PiB")
    return value


def emit(doc, line: bool = False) -> None:
    """Print one JSON document (a pydantic model) and nothing else on stdout: what a script
    reads is what `tunekit schema COMMAND` says. json.dumps escapes what is not ASCII, so a
    file name from an image that is not UTF-8 is printed as \\udcXX, never an encoding error.
    `line`: on one line (JSON Lines, one document per reading of `status --watch`)."""
    import json

    data = doc.model_dump(mode="json")
    typer.echo(json.dumps(data) if line else json.dumps(data, indent=2))


ProfileArg = Annotated[
    Optional[str],
    typer.Argument(
        help="Profile name or path to a .toml; default: the last applied, else server-1M."
    ),
]
ConnsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--conns",
        help="Connections to plan for (1000000, 1_000_000, 200k, 1M); rescales the profile.",
    ),
]
RootOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--root",
        help="Read the host under this directory instead of / (proc/sys, proc/meminfo, ...).",
    ),
]
SnapshotOpt = Annotated[
    Optional[Path],
    typer.Option("--snapshot", help="Audit a saved `sysctl -a` output instead of the live host."),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document (its schema: `tunekit schema COMMAND`; docs/json.md).",
    ),
]
ConstOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--const",
        help="Override a capacity constant, NAME=VALUE (repeatable); the names and their "
        "sources: `tunekit estimate --conns 1 --json` (constant_sources), docs/estimate.md.",
    ),
]
MemTotalOpt = Annotated[
    Optional[str],
    typer.Option(
        "--mem-total",
        help="With --snapshot, or --root on an image without proc/meminfo: the host's RAM "
        "(bytes, or 32G), so tcp_mem, memory needs and the boot values that scale with RAM "
        "can be judged.",
    ),
]
StateDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--state-dir",
        help="Journal directory (default $TUNEKIT_STATE_DIR, else /var/lib/tunekit under --root).",
    ),
]
