"""Never persist a limit below what the host gets at boot.

A sysctl.d drop-in is applied after the kernel has sized its tables from RAM and after
systemd (PID 1) has raised fs.file-max and fs.nr_open (knowledge/defaults.py): a number
there below those *lowers* the limit at every boot. So for every key that gives capacity
(direction "up"), the value the plan decided is held against the key's boot value:

- the host gets at least that value at boot, and no other boot file sets the key: nothing
  needs persisting; under another root (an image) the key is left out, saying why;
- the host may get more at boot: the upper end of the boot value is written instead, so
  the file can only raise the limit, whatever the host turns out to be;
- the boot value cannot be known (an image without --mem-total): the key is left out and
  the missing fact is named, rather than a number that may lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunekit.knowledge.defaults import BootContext, of
from tunekit.knowledge.keys import Key


@dataclass
class Floor:
    value: object | None  # what to write; None: leave the key out
    note: str = ""  # what the plan says about it (left alone), "" if nothing to say


def _numbers(value) -> tuple[int, ...] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def _shaped(value, numbers: tuple[int, ...]):
    return numbers[0] if isinstance(value, int) else list(numbers)


def apply_floor(
    key: Key, value, runtime: bool, ctx: BootContext, elsewhere: str | None, still_ok
) -> Floor:
    """What to persist for `key` instead of `value`. `runtime`: the key is live here (so it
    is written now as well, never left out). `elsewhere`: another boot file that sets the
    key ("path = value"), or None. `still_ok(value)`: every target on the key still holds."""
    # a port range gives capacity by its width, which its target sets as a whole
    d = of(key, ctx) if key.direction == "up" and key.shape in ("int", "triple") else None
    mine = _numbers(value)
    theirs = _elsewhere_numbers(elsewhere) if key.direction == "up" else None
    if theirs is not None and not _takes(key, theirs):
        theirs = None  # a value the kernel refuses sets nothing at boot: no floor
    note = ""
    if mine is not None and theirs is not None and len(theirs) == len(mine):
        raised = tuple(map(max, mine, theirs))
        if raised != mine and still_ok(_shaped(value, raised)):
            # tunekit's drop-in applies after the file that sets it: never below that file
            where = (elsewhere or "").split(": ", 1)[0]
            note = (
                f"{_text(raised)}, not {_text(mine)}: {where} sets {_text(theirs)} at boot "
                "and tunekit's drop-in, applied after it, would lower it"
            )
            value, mine = _shaped(value, raised), raised
    if d is None or mine is None:
        return Floor(value, note)
    n = len(mine)
    if d.low is not None and len(d.low) == n and all(map(int.__le__, mine, d.low)):
        if not runtime and elsewhere is None:
            ends = [d.low] + ([d.high] if d.high is not None and len(d.high) == n else [])
            if not all(still_ok(_shaped(value, end)) for end in ends):
                # `exactly` (or `at most`) a number below what the host may get at boot
                return Floor(
                    None,
                    f"{key.name}: not persisted: the profile asks for {_text(mine)}, and the "
                    f"host gets {d.text()} at boot ({d.how}); tunekit writes no number that "
                    "lowers a limit, so check reports the difference",
                )
            return Floor(
                None,
                f"{key.name}: nothing to persist: the host gets {d.text()} at boot ({d.how}), "
                f"at least the {_text(mine)} needed",
            )
    if d.high is None or len(d.high) != n:
        if runtime:
            return Floor(value, note)
        return Floor(
            None,
            f"{key.name}: left out: what the host gets at boot is not known here "
            f"({d.how}), so {_text(mine)} might lower it; give "
            f"{d.missing or 'the missing fact'} and plan again",
        )
    raised = tuple(map(max, mine, d.high))
    if raised == mine:
        return Floor(value, note)
    candidate = _shaped(value, raised)
    if not still_ok(candidate):  # an 'at most' target on the same key wins
        return Floor(value, note)
    return Floor(
        candidate,
        f"{_text(raised)}, not {_text(mine)}: the host may get {d.text()} at boot "
        f"({d.how}), and a smaller number here would lower it" + (f"; {note}" if note else ""),
    )


def _elsewhere_numbers(elsewhere: str | None) -> tuple[int, ...] | None:
    """The numbers of another boot file's assignment, "/path: key = value"."""
    if not elsewhere or " = " not in elsewhere:
        return None
    words = elsewhere.rpartition(" = ")[2].split()
    if not words or not all(w.isdigit() and len(w) <= 20 for w in words):
        return None
    return tuple(int(w) for w in words)


def _takes(key: Key, numbers: tuple[int, ...]) -> bool:
    """The kernel takes these numbers for the key (its bounds, as the plan checks them)."""
    from tunekit.knowledge import bounds

    low, high = bounds.limits(key)
    return all(low <= v <= high for v in numbers)


def _text(numbers: tuple[int, ...]) -> str:
    return " ".join(f"{v:,}" for v in numbers)


# The open-files hard limit every process gets at boot without tunekit's files: systemd
# v240+ gives each service (and so each login, through sshd and logind) 524288
# (DefaultLimitNOFILE=1024:524288, HIGH_RLIMIT_NOFILE in src/core/main.c); a kernel
# without it starts init with INR_OPEN_MAX, 4096 (include/uapi/linux/fs.h,
# include/asm-generic/resource.h).
SYSTEMD_NOFILE_HARD = 524288
KERNEL_NOFILE_HARD = 4096


def nofile_hard(systemd: bool | None, init: str, pid1_hard: int | None = None) -> tuple[int, str]:
    """(the hard open-files limit at boot, why). PID 1 unknown or an older systemd: the
    higher of the two, so that a persisted number cannot be the one that lowers it. A live
    PID 1 whose own hard limit is lower (a container without CAP_SYS_RESOURCE) gives its
    services no more (systemd's setrlimit_closest), and a number above it would make
    pam_limits' setrlimit fail for the session, soft limit and all."""
    if systemd is False and pid1_hard is not None:  # every process descends from it
        return (
            pid1_hard,
            f"the live PID 1 holds a hard limit of {pid1_hard:,} ({init}), which logins and "
            "services inherit",
        )
    if systemd is False:
        return KERNEL_NOFILE_HARD, f"INR_OPEN_MAX, the kernel's, as PID 1 is not systemd ({init})"
    why = "systemd v240+ gives every service DefaultLimitNOFILE=1024:524288 (src/core/main.c)"
    if systemd is None:
        why += f"; PID 1 not known to be one ({init}), so the higher value is kept"
    if pid1_hard is not None and pid1_hard < SYSTEMD_NOFILE_HARD:
        return pid1_hard, why + f", capped by PID 1's own hard limit, {pid1_hard:,}"
    return SYSTEMD_NOFILE_HARD, why
