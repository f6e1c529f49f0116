"""`status` as text: one table of limits (nearest cliff first), the sockets by state, the
symptom counters and the kernel log; and `--watch`'s screen, redrawn in place on a
terminal, one block per reading otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from tunekit.model.status import Row
from tunekit.output.documents.status import Status
from tunekit.output.text import _table

# ANSI: the alternate screen (as `watch`, `top` and `less` use), cursor home and clear,
# cursor hidden while drawing. Leaving restores the screen the user had, and the cursor.
ENTER = "\x1b[?1049h\x1b[?25l"
HOME = "\x1b[H\x1b[2J"
LEAVE = "\x1b[?25h\x1b[?1049l"


def _where(row: Row) -> str:
    lab = row.labels
    if "destination" in lab:
        return f"{lab.get('source', '?')} -> {lab['destination']}"
    if "port" in lab:
        address = lab.get("address", "?")
        return f"[{address}]:{lab['port']}" if ":" in address else f"{address}:{lab['port']}"
    if "pid" in lab:
        return f"{lab.get('process', '?')} (pid {lab['pid']})"
    return ""


def _who(row: Row) -> str:
    """A listener's group and owners, after its address."""
    parts = [f"x{row.members} SO_REUSEPORT"] if row.members and row.members > 1 else []
    if row.owners:
        parts.append(", ".join(row.owners[:2]) + (" ..." if len(row.owners) > 2 else ""))
    return " ".join(parts)


def _amount(value: int, unit: str) -> str:
    if unit == "pages":
        return f"{value:,} pages"
    return f"{value:,}"


def _rate(row: Row) -> str:
    if row.rate is None:
        return ""
    return f"{row.rate:+,.0f}/s" if abs(row.rate) >= 10 else f"{row.rate:+,.1f}/s"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"~{seconds:,.0f} s"
    if seconds < 7200:
        return f"~{seconds / 60:,.0f} min"
    return f"~{seconds / 3600:,.1f} h"


def cliff(row: Row) -> str:
    """ "ports to 10.0.0.5:443 run out in ~14 s at +1,200/s"."""
    if row.seconds_to_limit is None or row.rate is None:
        return ""
    what = f"{row.resource} of {_where(row)}" if _where(row) else row.resource
    if row.seconds_to_limit == 0:
        return f"{what}: at its limit"
    return f"{what} run out in {_duration(row.seconds_to_limit)} at {_rate(row)}"


def _row_lines(rows: list[Row], profiled: bool) -> list[str]:
    head = ["VERDICT", "RESOURCE", "WHERE", "USED", "LIMIT", "%", "RATE"]
    table = [head + (["PROFILE TARGET", "LOAD"] if profiled else [])]
    for r in rows:
        cells = [
            r.verdict.upper() if r.verdict != "ok" else "ok",
            r.resource,
            " ".join(x for x in (_where(r), _who(r)) if x),
            _amount(r.used, r.unit),
            _amount(r.limit, r.unit) if r.limit is not None else "?",
            f"{r.percent:.1f}" if r.percent is not None else "",
            _rate(r),
        ]
        if profiled:
            p = r.profile
            target = f"{p.verdict} {p.expected}".strip() if p and p.expected else "-"
            load = f"{p.load_percent:,.1f} %" if p and p.load_percent is not None else "-"
            cells += [target, load]
        table.append(cells)
    return _table(table)


def _explained(rows: list[Row]) -> list[str]:
    """Why each row that is not ok is not, and its fix."""
    out = []
    for r in rows:
        if r.verdict == "ok":
            continue
        notes = [r.detail] if r.detail else []
        grew = {k: v for k, v in r.symptoms.items() if v}
        if grew:
            notes.append("grew: " + ", ".join(f"{k} +{v:,}" for k, v in grew.items()))
        if r.fix:
            notes.append(f"fix: {r.fix}")
        out.append(f"  {r.resource} {_where(r)} [{r.verdict}]".replace("  [", " ["))
        out += [f"      {n}" for n in notes]
    return out


def render_status(doc: Status) -> str:
    took = doc.read_ms.get("total")
    head = f"tunekit status: {doc.at[:19].replace('T', ' ')} UTC; {doc.source}"
    if doc.profile:
        head += f"; profile {doc.profile} ({doc.profile_why})"
    if took is not None:
        head += f"; read in {took:,.0f} ms"
    lines = [head, ""]
    lines += _row_lines(doc.rows, doc.profile is not None)
    cliffs = [c for c in (cliff(r) for r in doc.rows) if c]
    if cliffs:
        lines += ["", "Nearest cliffs, at the current rate:"] + [f"  {c}" for c in cliffs]
    explained = _explained(doc.rows)
    if explained:
        lines += ["", "Not ok, and the fix:"] + explained
    s = doc.sockets

    def n(v):
        return f"{v:,}" if v is not None else "?"

    lines += [
        "",
        f"TCP sockets: established {n(s.established)}, SYN_RECV {n(s.syn_recv)}, "
        f"TIME_WAIT {n(s.time_wait)}, orphans {n(s.orphans)}, CLOSE_WAIT {n(s.close_wait)}"
        + "".join(f", {k} {v:,}" for k, v in s.others.items() if v)
        + f" (in use: {n(s.inuse)})",
    ]
    since = "since the previous reading" if doc.interval is not None else "since boot"
    hit = [x for x in doc.symptoms if x.grown]
    lines.append(
        f"Symptom counters {since}: "
        + (", ".join(f"{x.counter} +{x.grown:,}" for x in hit) if hit else "none grew")
    )
    for x in hit:
        lines.append(f"  {x.counter} ({x.key}): {x.meaning}")
    if doc.kernel_log:
        seen = [x for x in doc.kernel_log if x.count]
        where = "since the previous reading" if doc.interval is not None else "in the buffer"
        lines.append(
            f"Kernel log {where}: "
            + (", ".join(f'"{x.text}" x{x.count:,}' for x in seen) if seen else "no limit hit")
        )
    if doc.notes:
        lines += ["", "Notes:"] + [f"  - {x}" for x in doc.notes]
    if doc.prometheus:
        lines += ["", f"Wrote {doc.prometheus}"]
    return "\n".join(lines)


class Screen:
    """--watch on a terminal: the alternate screen, redrawn in place each reading; on
    exit (Ctrl-C included) the user's screen and cursor come back, and the last reading
    is printed there. On anything else (a pipe, a file): one block per reading."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.last = ""
        self.entered = False

    def __enter__(self) -> Screen:
        if self.tty:
            self.out.write(ENTER)
            self.out.flush()
            self.entered = True
        return self

    def show(self, text: str) -> None:
        self.last = text
        if self.tty:
            self.out.write(HOME + text + "\n")
        else:
            self.out.write(text + "\n\n")
        self.out.flush()

    def __exit__(self, *exc) -> None:
        if self.entered:
            self.out.write(LEAVE)
            if self.last:
                self.out.write(self.last + "\n")
            self.out.flush()
            self.entered = False
