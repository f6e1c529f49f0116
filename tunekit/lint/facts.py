"""What lint's rules see of one line: the values the host gets at boot (the last
assignment of each key), the catalogue's facts on the key, the running kernel's, and the
functions a condition may call (knowledge/rules.toml; the names are in language.py).
engine.py runs the rules over them."""

from __future__ import annotations

import fnmatch
import re

from tunekit.host.confparse import Setting
from tunekit.knowledge import catalogue as K
from tunekit.lint import source
from tunekit.lint.host import Host
from tunekit.lint.rules import Knowledge, parse_version

_NUMBER = re.compile(r"^-?[0-9]{1,21}$")  # longer is no number a kernel takes (confparse)


def shown(text: str, limit: int = 200) -> str:
    """A line or value as a finding shows it: a 100,000-character line is cut, not echoed."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _earlier_writes(settings: list[Setting], kind: str) -> dict[int, str]:
    """id(setting) -> the value an earlier line of the same kind and key wrote."""
    before: dict[int, str] = {}
    wrote: dict[str, str] = {}
    for s in settings:
        if s.kind == kind and not s.problem:
            if s.key in wrote:
                before[id(s)] = wrote[s.key]
            wrote[s.key] = s.value
    return before


def ints_of(text: str | None) -> list[int] | None:
    if text is None:
        return None
    parts = text.split()
    if parts and all(_NUMBER.match(p) for p in parts):
        return [int(p) for p in parts]
    return None


def _limit_value(text: str) -> int | None:
    return int(text) if _NUMBER.match(text) else None


def _soft_hard(value: str) -> tuple[int | None, int | None]:
    """systemd's LimitNOFILE=soft[:hard]: one value sets both."""
    soft, _, hard = value.partition(":")
    return _limit_value(soft.strip()), _limit_value((hard or soft).strip())


_UNLIMITED = ("unlimited", "infinity", "-1")


def _limit_default(s: Setting) -> dict:
    """What every process starts with for this limit (catalogue.RLIMIT_DEFAULTS), and
    whether the line sets exactly that."""
    pair = K.RLIMIT_DEFAULTS.get(s.key)
    if pair is None:
        return {"limit_default": None, "limit_is_default": False}
    wanted = {"soft": pair[:1], "hard": pair[1:], "-": pair}.get(s.type, pair)
    value = "unlimited" if s.value in _UNLIMITED else s.value
    if "" in wanted:  # a default this table does not know (nofile's hard limit)
        return {"limit_default": None, "limit_is_default": False}
    text = "/".join(dict.fromkeys(wanted))
    return {"limit_default": text, "limit_is_default": all(value == w for w in wanted)}


def nixos_order(settings: list[Setting]) -> list[Setting]:
    """NixOS definitions (Setting.priority) in the order that makes the one NixOS keeps
    last, as the engine reads "the last assignment wins": the strongest priority (the
    lowest number: mkForce 50 beats a plain 100 beats mkDefault 1000), whatever the file
    order; for net.core.rmem_max the largest value among those (its own merge, nixpkgs
    nixos/modules/config/sysctl.nix). Other settings keep their places."""
    slots = [n for n, s in enumerate(settings) if s.priority is not None]
    if len(slots) < 2:
        return settings

    def strength(s: Setting) -> tuple[int, int]:
        size = s.ints[0] if K.canonical(s.key) == K.RMEM_MAX.name and s.ints else 0
        return (-(s.priority or 0), size)

    ordered = sorted((settings[n] for n in slots), key=strength)
    out = list(settings)
    for n, s in zip(slots, ordered, strict=True):
        out[n] = s
    return out


def _params_text(key: str) -> str:
    from tunekit.knowledge import kernel_modparams

    params = kernel_modparams.known().get(key.partition(".")[0], (frozenset(), True))[0]
    return ", ".join(sorted(params)) if params else "none"


class Facts:
    """The inputs' settings as the host gets them at boot, and what each line's
    conditions see (env)."""

    def __init__(
        self, settings: list[Setting], format_of: dict[str, str], host: Host, know: Knowledge
    ):
        self.host, self.know = host, know
        self.mode = "files"  # or "boot": what applies at the next boot of this host
        self._per_key: dict[str, tuple] = {}  # _key_facts, once per key
        self.format_of = format_of
        self.sysctls = [s for s in settings if s.kind == "sysctl"]
        self.effective: dict[str, Setting] = {}
        for s in self.sysctls:
            if not s.problem and not s.context:  # a container's or an image's: not the host's
                self.effective[K.canonical(s.key)] = s
        self.params = {s.key: s.value for s in settings if s.kind == "modprobe"}
        self.limits: dict[tuple[str, str], dict[str, int | None]] = {}
        self.root_items: set[str] = set()
        for s in settings:
            if s.kind != "limits" or s.problem:
                continue
            slot = self.limits.setdefault((s.domain, s.key), {"soft": None, "hard": None})
            for t in ("soft", "hard") if s.type == "-" else (s.type,):
                slot[t] = _limit_value(s.value)
            if s.domain in ("root", "%root", "@root"):
                self.root_items.add(s.key)
        self.settings = settings
        # the assignment of the same key that applies before each line (what the host
        # has without it), and the boot values the catalogue computes for this host
        self.before: dict[int, Setting] = {}
        last: dict[str, tuple[int, Setting]] = {}
        copied: list[tuple[int, str, Setting]] = []  # K.WRITES_ALSO: (when, pattern, line)
        for n, s in enumerate(self.sysctls):
            key = K.canonical(s.key)
            wrote = [(at, w) for at, pat, w in copied if fnmatch.fnmatchcase(key, pat)]
            if key in last:
                wrote.append(last[key])
            if wrote:
                self.before[id(s)] = max(wrote, key=lambda at_w: at_w[0])[1]
            if not s.problem:
                if key in K.WRITES_ALSO and self._copies(key, s, last.get(key)):
                    copied.append((n, K.WRITES_ALSO[key][0], s))
                last[key] = (n, s)
        self.sysfs_before = _earlier_writes(settings, "sysfs")
        self.ctx = host.boot_context()
        # what systemd gives services (DefaultLimitNOFILE=, hard), when the inputs say
        self.services_nofile: int | None = None
        for s in settings:
            if s.kind == "systemd" and not s.problem:
                self.services_nofile = _soft_hard(s.value)[1]

    @staticmethod
    def _copies(key: str, s: Setting, prev: tuple[int, Setting] | None) -> bool:
        """Does this write copy its value (K.WRITES_ALSO)? Always, or where the handler
        copies only on a change: when it differs from the line before it, else from the
        catalogue's boot default (unknown: not claimed)."""
        if not K.WRITES_ALSO[key][2]:
            return True
        if prev is not None:
            return prev[1].ints != s.ints
        info = K.KEYS.get(key)
        return info is not None and info.default is not None and s.ints != ints_of(info.default)

    # names and functions the conditions see

    def boot(self, key: str) -> list[int] | None:
        s = self.effective.get(K.canonical(key))
        if s is not None:
            return s.ints
        status, text = self.host.live(K.canonical(key))
        return ints_of(text) if status == "present" else None

    def at_boot(self, key: str) -> list[int] | None:
        """boot(key), else the key's default (the catalogue's, or a fresh namespace's)."""
        got = self.boot(key)
        if got is not None:
            return got
        from tunekit.knowledge.defaults import of

        info = K.KEYS.get(K.canonical(key))
        d = of(info, self.ctx) if info is not None else None
        if d is not None and d.exact is not None:
            return list(d.exact)
        return ints_of(self.host.fresh.get(K.canonical(key)))

    def boot_n(self, key: str) -> int | None:
        v = self.boot(key)
        return v[0] if v else None

    def _functions(self) -> dict:
        h = self.host
        return {
            "boot": self.boot,
            "boot_n": self.boot_n,
            "at_boot": self.at_boot,
            "param": lambda name: _limit_value(self.params.get(name, "")),
            "autoload": lambda mod: mod in h.modules_at_boot,
            "builtin": lambda mod: (
                None
                if h.modules is None or h.proc_modules is None
                else mod in h.modules and mod not in h.proc_modules
            ),
            "loaded": lambda mod: None if h.modules is None else mod in h.modules,
            "set_in_files": lambda key: K.canonical(key) in self.effective,
            # the module whose loading makes the key exist (catalogue MODULE_PREFIXES)
            "module_of": lambda key: next(
                (m for p, m in K.MODULE_PREFIXES.items() if key.startswith(p)), ""
            ),
            "gib": lambda pages: f"{pages * h.page_size / 2**30:.1f}",
            "replace": lambda s, a, b: s.replace(a, b),
            "chr": chr,
        }

    def env(self, s: Setting) -> dict:
        key = K.canonical(s.key)
        status, live = self.host.live(key) if s.kind == "sysctl" else ("unknown", None)
        ints, live_ints = s.ints, ints_of(live)
        info = K.KEYS.get(key)
        shape = info.shape if info else ("string" if live and ints_of(live) is None else "ints")
        env = {
            "shape": shape,
            "count_live": len(live_ints) if live_ints else None,
            "key": shown(s.key),
            "value": shown(s.value),
            "values": ints,
            "n": ints[0] if ints else None,
            "count": len(ints) if ints else 0,
            "live": live,
            "live_n": live_ints[0] if live_ints else None,
            "absent": {"present": False, "absent": True}.get(status),
            "scope": info.scope if info else None,
            "unit": info.unit if info else None,
            "format": self.format_of.get(s.file, ""),
            "kernel": self.host.kernel_text,
            "mem_kib": self.host.mem_bytes // 1024 if self.host.mem_bytes else None,
            "hugepage_kib": (self.host.hugepage_bytes or 0) // 1024 or None,
            "mem_pages": self.host.mem_bytes // self.host.page_size
            if self.host.mem_bytes
            else None,
            "container": self.host.container,
            "systemd": self.host.systemd,
            "mode": self.mode,
            "services_nofile": self.services_nofile,
            "domain": s.domain,
            "context": s.context,
            "type": s.type,
            "soft": None,
            "hard": None,
            "root_covered": s.key in self.root_items,
            "inherits": s.inherits,
            "reaches_root": s.domain in ("root", "%root", "@root"),
            **self._functions(),
        }
        if s.kind == "sysctl":
            env.update(self._knowledge(s, info, ints))
        if s.kind == "sysfs":
            env["sysfs_default"], env["sysfs_default_source"] = source.sysfs_default(
                self.host, s.key
            )
            env["sysfs_before"] = self.sysfs_before.get(id(s))  # an earlier line's value
            tuned = self.host.tuned
            env["tuned_version"] = f"{tuned[0]}.{tuned[1]}" if tuned else ""
            # TuneD 2.25 writes the knobs EEVDF renamed by their new names (commit 87ff27c)
            env["tuned_maps_knobs"] = None if tuned is None else tuned >= (2, 25)
        if s.kind == "modprobe":
            env["unknown_param"] = source.unknown_param(self.host, s.key)
            env["module_params"] = _params_text(s.key)
            env["param_default"] = source.param_default(self.host, s.key, s.value)
            env["param_rejected"] = source.param_rejected(s.key, s.value)
        if s.kind in ("limits", "ulimit"):
            env.update(_limit_default(s))
            env.update(self._limit_floor(s))
        if s.kind == "limits":
            slot = self.limits.get((s.domain, s.key), {})
            env["soft"], env["hard"] = slot.get("soft"), slot.get("hard")
            env["n"] = _limit_value(s.value)
        elif s.kind == "ulimit":
            env["n"] = _limit_value(s.value)
        elif s.kind == "systemd":
            env["soft"], env["hard"] = _soft_hard(s.value)
            env.update(self._services_floor(env["soft"], env["hard"]))
        return env

    def _services_floor(self, soft: int | None, hard: int | None) -> dict:
        """DefaultLimitNOFILE= below what every service gets without it: 1024 soft and
        524288 hard (systemd v240+'s DefaultLimitNOFILE=1024:524288; a system.conf is read
        by systemd only, so the host lint runs on does not decide it). {n, limit_floor,
        limit_floor_how, limit_part} for the part that is lower."""
        how = "systemd v240+: DefaultLimitNOFILE=1024:524288 (src/core/main.c, HIGH_RLIMIT_NOFILE)"
        for part, value, floor in (("soft", soft, 1024), ("hard", hard, 524288)):
            if value is not None and value < floor:
                return {
                    "n": value,
                    "limit_floor": floor,
                    "limit_floor_how": how,
                    "limit_part": part,
                }
        return {"limit_floor": None, "limit_floor_how": "", "limit_part": ""}

    def _limit_floor(self, s: Setting) -> dict:
        """The least every process starts with for the item (catalogue LIMIT_FLOORS), where
        a line below it takes a limit away: {limit_floor, limit_floor_how}."""
        floors = K.LIMIT_FLOORS.get(s.key)
        if floors is None:
            return {"limit_floor": None, "limit_floor_how": ""}
        soft, hard, how = floors
        if s.key == "memlock" and self.host.kernel is not None and self.host.kernel < (5, 16):
            soft = hard = 64  # MLOCK_LIMIT was 64 KiB before 5.16
            how = "include/uapi/linux/resource.h MLOCK_LIMIT, 64 KiB before 5.16"
        # '-' sets both, so it lowers the hard limit when under it
        floor = {"soft": soft, "hard": hard}.get(s.type, hard)
        if floor == "threads/2":
            name = K.THREADS_MAX.name
            threads = self.boot_n(name) or self._boot_low(name)
            floor = threads // 2 if threads else None
            how += f", threads-max {threads:,} here" if threads else ""
        return {"limit_floor": floor, "limit_floor_how": how}

    def _in_use(self, info) -> int | None:
        if info is None or info.in_use is None or self.host.in_use is None:
            return None
        key = ("in_use", info.in_use[0])
        if key not in self.host._cache:  # read once per run, not once per line
            self.host._cache[key] = self.host.in_use(info.in_use[0])
        return self.host._cache[key]

    def _boot_low(self, key: str) -> int | None:
        """The least the catalogue says the key holds at boot on this host (its RAM)."""
        from tunekit.knowledge.defaults import of

        d = of(K.KEYS[key], self.ctx) if key in K.KEYS else None
        return d.low[0] if d is not None and d.low else None

    def _knowledge(self, s: Setting, info, ints: list[int] | None) -> dict:
        """What the catalogue knows of this line's key, for the family rules: the boot
        value (knowledge/defaults.py) and whether the line lowers it or repeats it. What
        depends on the key alone is worked out once per key (_key_facts)."""
        key = K.canonical(s.key)
        d, fresh, facts = self._key_facts(key, info)
        low = facts["default_low"]
        below = None
        if low is not None and ints is not None and len(ints) == len(low):
            if info is not None and info.shape == "range":  # capacity by its width
                below = ints[1] - ints[0] < low[1] - low[0]
            else:
                below = any(v < lo for v, lo in zip(ints, low, strict=True))
        prev = self.before.get(id(s))
        if prev is not None:
            unchanged = prev.ints == ints if ints is not None else prev.value == s.value
        elif d is not None and d.exact is not None:
            unchanged = ints == list(d.exact)
        else:
            unchanged = fresh is not None and ints is None and s.value == fresh
        return {
            **facts,
            "below_default": below,
            "unchanged": unchanged,
            "before": f"{prev.file}:{prev.line}" if prev is not None else None,
            "reserved_outside": self._reserved_outside(info, s.value),
            "services_span": self._services_span(info, ints),
            "needs_now": None if s.context else facts["needs_now"],  # the host's boot
            "advised_out": source.outside(info.advised, ints) if info is not None else "",
            "mode_cost": dict(info.mode_costs).get(ints[0], "")
            if info is not None and ints is not None and len(ints) == 1
            else "",
            "unknown_names": source.unknown_names(
                self.host, key, info.choices if info else None, s.value
            ),
        }

    def _key_facts(self, key: str, info):
        """(the boot default, a fresh namespace's value, the names that depend on the key
        alone), once per key: a file of 20,000 lines on a few keys asks the host and the
        catalogue a few times, not 20,000."""
        cached = self._per_key.get(key)
        if cached is not None:
            return cached
        from tunekit.knowledge.defaults import BootDefault, constant, of

        d = of(info, self.ctx) if info is not None else None
        fresh = self.host.fresh.get(key)
        if d is None and fresh is None:
            d = source.default(self.host, key)
        if d is None and fresh is not None and ints_of(fresh) is not None:
            d = constant(fresh, "the kernel's default, as a new network namespace holds it")
        elif d is None and fresh is not None:  # text: compared as it is
            d = BootDefault(None, None, f"the kernel's default, {fresh!r} in a new namespace")
        since = info.no_effect_since if info is not None else ""
        kernel = self.host.kernel
        facts = {
            "direction": info.direction if info else None,
            "default_low": list(d.low) if d is not None and d.low is not None else None,
            "default_text": d.text() if d else None,
            "default_how": d.how if d else None,
            "writable": self.host.writable(key),
            "readable": self.host.readable(key),
            **source.registered(key),
            "in_child": info.child if info is not None else source.in_child(self.host, key),
            "runtime_ok": K.runtime_namespaced(key),
            "conf_combine": K.conf_combine(key),
            "read_only_key": info is not None and info.kind == "input",
            "off_harm": info.off_harm if info else "",
            "never_lower": info.never_lower if info else "",
            "no_effect": (
                info.no_effect
                if info is not None
                and (not since or kernel is None or kernel >= parse_version(since))
                else ""
            ),
            "needs_key": info.needs[0] if info is not None and info.needs else "",
            "needs_values": list(info.needs[1]) if info is not None and info.needs else [],
            "needs_source": info.needs[2] if info is not None and info.needs else "",
            "needs_now": self._needs_now(info),
            "advised": info.advised[2] if info is not None and info.advised else "",
            "choices": ", ".join(info.choices[0]) if info and info.choices else "",
            "choices_source": info.choices[1] if info and info.choices else "",
            "in_use": self._in_use(info),
            "in_use_what": info.in_use[0].replace("-", " ") if info and info.in_use else "",
            "in_use_fails": info.in_use[1] if info and info.in_use else "",
            "below_other": info.below_other[0] if info and info.below_other else "",
            "below_other_does": info.below_other[1] if info and info.below_other else "",
            "below_other_source": info.below_other[2] if info and info.below_other else "",
            "socket_max": info.socket_max[0] if info and info.socket_max else None,
            "socket_max_source": info.socket_max[1] if info and info.socket_max else "",
            "key_reason": info.reason if info else "",
            "key_source": info.source if info else "the running kernel",
        }
        self._per_key[key] = (d, fresh, facts)
        return d, fresh, facts

    def _needs_now(self, info) -> int | None:
        """The value at boot of the key this one needs (catalogue `needs`), if one number."""
        if info is None or not info.needs:
            return None
        value = self.at_boot(info.needs[0])
        return value[0] if value and len(value) == 1 else None

    def _services_span(self, info, ints: list[int] | None) -> str:
        """The ports below the kernel's default start that a range now hands to connect()
        and bind(0) ("1024-32767"), where nothing reserves any port: neither the inputs nor
        this host's live ip_local_reserved_ports. "" otherwise."""
        if info is not K.PORT_RANGE or ints is None or len(ints) != 2 or info.default is None:
            return ""
        start = int(info.default.split()[0])
        if ints[0] >= start or ints[1] < ints[0]:
            return ""
        reserved = self.effective.get(K.RESERVED_PORTS.name)
        if reserved is not None and reserved.value.strip():
            return ""
        status, live = self.host.live(K.RESERVED_PORTS.name)
        if status == "present" and (live or "").strip():
            return ""
        return f"{ints[0]}-{min(ints[1], start - 1)}"

    def _reserved_outside(self, info, text: str) -> bool | None:
        """Reserved ports that all lie outside the ephemeral range in force: the kernel
        consults the list only while it picks a port inside the range."""
        from tunekit.model import values

        if info is None or info.shape != "portset":
            return None
        rng = self.boot(K.PORT_RANGE.name)
        if rng is None:  # nothing sets it and the live value is unknown: the default
            from tunekit.knowledge.defaults import of

            d = of(K.PORT_RANGE, self.ctx)
            rng = list(d.exact) if d is not None and d.exact else None
        try:
            ports = values.parse_portset(text)
        except ValueError:
            return None
        if not rng or len(rng) != 2 or not ports:
            return None
        return values.count_in(ports, rng[0], rng[1]) == 0
