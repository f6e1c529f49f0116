"""TuneD profiles (tuned.conf), read for what TuneD writes from them.

TuneD reads a profile with Python's configparser (`=` the only delimiter, `#` inline
comments, tuned/profiles/loader.py) and each section goes to its plug-in:
- [sysctl]: `key=value`, the value unquoted (`^"(.*)"$`, tuned/utils/commands.py unquote)
  and written to /proc/sys (plugin_sysctl.py): read as the sysctl.d line it amounts to. A
  value with an assignment modifier (`>N`: only raise) or a ${variable} is not judged;
- [vm]: dirty_bytes / dirty_background_bytes (a `%` value is the ratio: plugin_vm.py
  writes vm.dirty_ratio / vm.dirty_background_ratio then), dirty_ratio,
  dirty_background_ratio, and transparent_hugepages (a sysfs write);
- [scheduler]: the sched_* knobs TuneD writes to /sys/kernel/debug/sched/ on kernels from
  5.13 (plugin_scheduler.py): read as those sysfs writes, so a knob the kernel dropped
  (latency_ns and wakeup_granularity_ns with EEVDF in 6.6) is named.
Other sections ([cpu], [disk], [bootloader], ...) set nothing lint judges. `include=` is
not followed: a profile that includes another has its settings marked `inherits`, since
a line there may undo the parent's value, so none is called a no-op.
"""

from __future__ import annotations

import re

from tunekit.host.confparse import Parsed, Problem, Setting, sysctl_conf
from tunekit.knowledge.catalogue import TUNED_VM

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
_SCHED = re.compile(r"^sched_(\w+)$|^numa_balancing_(\w+)$")


def tuned(text: str, file: str) -> Parsed:
    out = Parsed("tuned")
    section, included = "", False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if m := _SECTION.match(line):
            section = m[1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), re.split(r"\s#", value, maxsplit=1)[0].strip()
        if "${" in value or value[:1] in (">", "<"):
            continue  # a variable or an assignment modifier: only TuneD's run knows
        if section == "main" and key == "include" and value:
            included = True
        for s_or_p in _settings(section, key, value, file, raw):
            s_or_p.line, s_or_p.text = number, raw.strip()
            (out.settings if isinstance(s_or_p, Setting) else out.problems).append(s_or_p)
    if included:  # the parent profile's values are not read: a line may undo one of them
        for s in out.settings:
            s.inherits = True
    return out


def _settings(section: str, key: str, value: str, file: str, raw: str):
    if section == "sysctl":
        value = re.sub(r'^"(.*)"$', r"\1", value)
        parsed = sysctl_conf(f"{key} = {value}", file)
        return [*parsed.settings, *parsed.problems]
    if section == "vm":
        if key in TUNED_VM:  # a `%` value sets the ratio instead (plugin_vm.py _dirty_bytes)
            plain, ratio = TUNED_VM[key]
            if value.endswith("%") and ratio:
                return _sysctl(ratio, value[:-1].strip(), file)
            return _sysctl(plain, value, file)
        if key == "transparent_hugepages":
            return [Setting(file, 0, "sysfs", THP, value, raw)]
    if section == "sysfs" and key.startswith("/sys/"):
        return [Setting(file, 0, "sysfs", key, value, raw)]
    if section == "scheduler" and (m := _SCHED.match(key)):
        where = f"sched/{m[1]}" if m[1] else f"sched/numa_balancing/{m[2]}"
        return [Setting(file, 0, "sysfs", f"/sys/kernel/debug/{where}", value, raw)]
    return []


def _sysctl(name: str, value: str, file: str) -> list[Setting | Problem]:
    parsed = sysctl_conf(f"{name} = {value}", file)
    return [*parsed.settings, *parsed.problems]
