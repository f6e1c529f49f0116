"""Sysctl values as the kernel prints them, parsed into data by their registry shape, and
written back. Pure functions; a value that does not parse raises ValueError with a reason.
"""

from __future__ import annotations

from tunekit.knowledge.keys import Key

Intervals = list[tuple[int, int]]
MAX_TEXT = 4096  # a sysctl value longer than this is not one tunekit writes or reads


def parse_ints(text: str) -> list[int]:
    """'4096 131072 6291456' -> [4096, 131072, 6291456]; decimal digits only (a kernel
    proc_dointvec prints no hex, and '0x1000' in a file is a mistake, not 4096)."""
    parts = text.split()
    if not parts:
        raise ValueError("empty value")
    out = []
    for p in parts:
        body = p[1:] if p[:1] == "-" else p
        if not body.isdigit() or not body.isascii() or len(body) > 20:
            raise ValueError(f"{p!r} is not a whole number")
        out.append(int(p))
    return out


def parse_portset(text: str) -> Intervals:
    """'8080,9000-9010' -> [(8080, 8080), (9000, 9010)], merged and sorted; never expanded,
    so '1-20000000' costs nothing (and is refused: ports end at 65535)."""
    out: Intervals = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or len(lo) > 5 or len(hi) > 5:
            raise ValueError(f"{part!r} is not a port or a port range")
        a, b = int(lo), int(hi) if sep else int(lo)
        if not 1 <= a <= b <= 65535:
            raise ValueError(f"{part!r}: ports are 1-65535, low <= high")
        out.append((a, b))
    return merge(out)


def merge(intervals: Intervals) -> Intervals:
    out: Intervals = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def portset_text(intervals: Intervals) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in intervals)


def contains(outer: Intervals, inner: Intervals) -> bool:
    return all(any(a <= x and y <= b for a, b in outer) for x, y in inner)


def count_in(intervals: Intervals, lo: int, hi: int) -> int:
    """Ports of `intervals` that fall inside [lo, hi]."""
    return sum(max(0, min(b, hi) - max(a, lo) + 1) for a, b in intervals)


def parse(key: Key, text: str):
    """The live text of `key` as data: int, list of ints, str, or port intervals."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"value of {len(text)} characters")
    if key.shape == "string":
        return " ".join(text.split())
    if key.shape == "portset":
        return parse_portset(text)
    ints = parse_ints(text)
    width = {"int": 1, "triple": 3, "range": 2}.get(key.shape)
    if width is not None and len(ints) != width:
        raise ValueError(f"expected {width} number(s), got {len(ints)}")
    return ints[0] if key.shape == "int" else ints


def text(value) -> str:
    """A value as the kernel and sysctl.d files take it."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return portset_text(value)
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
