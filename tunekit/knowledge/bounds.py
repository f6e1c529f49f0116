"""The one bounds validator: does a value fit a key's shape and the bounds the kernel takes?

Used by the profile loader (a target's value), the plan (every value a runtime write or a
file will carry) and lint (a line the kernel would reject). Each function raises
ValueError with the reason; callers turn it into their own error.
"""

from __future__ import annotations

import re

from tunekit.knowledge.keys import Key
from tunekit.model import values

INT_MIN = -(2**31)
U64_MAX = 2**64 - 1
UNSIGNED_MAX = 2**63 - 1  # the largest value tunekit writes to a key with no known bound


_DECIMAL = re.compile(r"-?(?:[1-9][0-9]*|0)\Z")
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def kernel_integer(word: str, plus: bool = False) -> int | None:
    """One number as the kernel reads it, None where it returns EINVAL. A sysctl write
    (kernel/sysctl.c proc_get_long: an optional '-', a digit, then strtoul_lenient with
    base 0) and a module option (lib/kstrtox.c kstrtoll/kstrtoull base 0, which also take
    a leading '+': `plus`) read the base from the prefix, as
    _parse_integer_fixup_radix does: "0x1F" is hex, "010" is octal (8), "08" is refused,
    as are "1_6" and "+10" written to a sysctl (measured in `unshare -n`)."""
    if len(word) <= 40 and _DECIMAL.match(word):  # the common case: no prefix to read
        return int(word)
    text = word[1:] if word[:1] == "-" or (plus and word[:1] == "+") else word
    if not text[:1].isdigit():
        return None
    if text[0] == "0" and text[1:2] in ("x", "X") and text[2:3] and text[2] in _DIGITS[16]:
        base, digits = 16, text[2:]
    else:
        base, digits = (8 if text[0] == "0" else 10), text
    if len(digits) > 64 or not all(c in _DIGITS[base] for c in digits):
        return None  # past 64 digits no base fits 64 bits: the kernel says ERANGE
    number = int(digits, base)
    return -number if word[:1] == "-" else number


def not_decimal(word: str) -> int | None:
    """The number the kernel reads where it differs from the decimal one a person reads
    ("010" is 8), else None."""
    number = kernel_integer(word)
    if number is None or not word.lstrip("-").isdigit() or number == int(word):
        return None
    return number


def limits(key: Key) -> tuple[int, int]:
    """The bounds a value must fall in. Where the kernel enforces none, tunekit still
    writes no negative number to a key it knows (none of them means anything negative)."""
    low = key.minimum if key.minimum is not None else (0 if key.known else INT_MIN)
    high = key.maximum if key.maximum is not None else UNSIGNED_MAX
    return low, high


def kernel_rejects(key: Key, nums: list[int]) -> str | None:
    """Why the kernel refuses these numbers with EINVAL, from its own bounds only (None if
    it takes them, or if the catalogue knows no bound)."""
    for v in nums:
        if key.minimum is not None and v < key.minimum:
            return f"below {key.minimum}, the smallest value the kernel accepts"
        if key.maximum is not None and v > key.maximum:
            return f"above {key.maximum}, the largest value the kernel accepts"
    return None


def check_numbers(key: Key, nums: list[int]) -> None:
    low, high = limits(key)
    for v in nums:
        if not low <= v <= high:
            raise ValueError(f"{key.name}: {v} is outside {low}..{high}")


def check_range(key: Key, lo: int, hi: int) -> None:
    """A port range as tunekit writes it: low < high, ends of different parity."""
    if lo >= hi:
        raise ValueError(f"{key.name}: needs low < high, got {lo} {hi}")
    if key.parity and lo % 2 == hi % 2:
        raise ValueError(
            f"{key.name} {lo} {hi}: the ends should differ in parity (the kernel logs "
            '"prefer different parity for start/end values" otherwise, and connect() '
            "has one port fewer)"
        )


def check_target(key: Key, op: str, value, index: int | None) -> None:
    """A profile target's value (an int, a list of ints, or text, as TOML gives it)."""
    if key.shape == "string":
        if not isinstance(value, str) or op != "exactly":
            raise ValueError(f'{key.name} takes text compared with op = "exactly"')
        if not value.strip() or len(value) > 256 or not value.isprintable():
            raise ValueError(f"{key.name}: {value!r} is not a value a sysctl takes")
        return
    if key.shape == "portset":
        if not isinstance(value, str) or op == "range" or index is not None:
            raise ValueError(f'{key.name} takes ports as text, e.g. "8080,9000-9010"')
        try:
            values.parse_portset(value)
        except ValueError as err:
            raise ValueError(f"{key.name}: {err}") from None
        return
    nums = _target_numbers(key, op, value, index)
    check_numbers(key, nums)
    if key.shape == "range" and op != "range":
        check_range(key, *value)


def _target_numbers(key: Key, op: str, value, index: int | None) -> list[int]:
    """The numbers of `value`, which must have the width the key (or index) takes."""
    if isinstance(value, str):
        raise ValueError(f"{key.name} takes numbers, not text")
    listed = len(value) if isinstance(value, list) else 1
    width = {"int": 1, "triple": 3, "range": 2}.get(key.shape, listed)
    if index is not None:
        if key.shape != "triple":
            raise ValueError(f"index applies only to triples; {key.name} is {key.shape}")
        width = 1
    if op == "range":
        if not (isinstance(value, list) and len(value) == 2 and width == 1):
            raise ValueError("op 'range' takes value = [low, high] on a single number")
        if value[0] > value[1]:
            raise ValueError("op 'range' needs low <= high")
    elif width == 1 and not isinstance(value, int):
        raise ValueError(f"{key.name} takes one integer")
    elif width > 1 and not (isinstance(value, list) and len(value) == width):
        raise ValueError(f"{key.name} takes a list of {width} integers")
    nums = value if isinstance(value, list) else [value]
    if not nums:
        raise ValueError(f"{key.name}: empty list")
    return nums


def check_written(key: Key, text: str) -> None:
    """A value as a runtime write or a drop-in will carry it (text)."""
    if key.shape == "string":
        return
    try:
        value = values.parse(key, text) if key.known else values.parse_ints(text)
    except ValueError as err:
        raise ValueError(f"{key.name} = {text!r}: {err}") from None
    if key.shape == "portset":
        return
    nums = value if isinstance(value, list) else [value]
    low, high = limits(key)
    if any(v > high for v in nums):
        raise ValueError(f"{key.name} = {text}: above the kernel's maximum {high}")
    if any(v < low for v in nums):
        raise ValueError(
            f"{key.name} = {text}: below {low}"
            + (" (the module parameter must be > 0)" if key.param else "")
        )
    if key.shape == "range":
        check_range(key, *nums)
    if key.shape == "triple" and nums != sorted(nums):
        raise ValueError(f"{key.name} {text}: must be ascending (min <= default <= max)")
