"""tunekit lint: the tuning lines a host carries, checked against what the kernel does.

The knowledge is data (knowledge/rules.toml and the catalogue): this module reads the
lines (host/confparse), works out what the host gets at boot (the last assignment of each
key wins), evaluates the rules and adds what only the whole set shows: keys absent on the
running kernel, assignments overridden by a later one, values that fail a profile.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import Literal

from tunekit.host import confparse
from tunekit.host.confparse import Problem, Setting
from tunekit.knowledge import bounds
from tunekit.knowledge import catalogue as K
from tunekit.lint import source
from tunekit.lint.host import Host
from tunekit.lint.language import Unknown, evaluate, render
from tunekit.lint.report import (
    DEFAULT_FAIL_ON,
    VERDICTS,
    BootChange,
    LintFile,
    LintFinding,
    LintHost,
    LintReport,
    LintVerdict,
)
from tunekit.lint.rules import Knowledge, Rule, knowledge, parse_version

# --- the engine --------------------------------------------------------------------------


_NUMBER = re.compile(r"^-?[0-9]{1,21}$")  # longer is no number a kernel takes (confparse)


def _shown(text: str, limit: int = 200) -> str:
    """A line or value as a finding shows it: a 100,000-character line is cut, not echoed."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _ints(text: str | None) -> list[int] | None:
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


@dataclass
class _Input:
    path: str
    format: str
    settings: list[Setting]
    problems: list[Problem]


class _Linter:
    def __init__(self, inputs: list[_Input], host: Host, know: Knowledge):
        self.inputs, self.host, self.know = inputs, host, know
        self.findings: list[LintFinding] = []
        self.refused: set[int] = set()  # settings whose write the kernel or the tool refuses
        self.mode = "files"  # or "boot": what applies at the next boot of this host
        self.format_of = {i.path: i.format for i in inputs}
        settings = [s for i in inputs for s in i.settings]
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
                last[key] = (n, s)
                if key in K.WRITES_ALSO:
                    copied.append((n, K.WRITES_ALSO[key][0], s))
        self.ctx = host.boot_context()
        # what systemd gives services (DefaultLimitNOFILE=, hard), when the inputs say
        self.services_nofile: int | None = None
        for s in settings:
            if s.kind == "systemd" and not s.problem:
                self.services_nofile = _soft_hard(s.value)[1]

    # names and functions the conditions see

    def boot(self, key: str) -> list[int] | None:
        s = self.effective.get(K.canonical(key))
        if s is not None:
            return s.ints
        status, text = self.host.live(K.canonical(key))
        return _ints(text) if status == "present" else None

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
        return _ints(self.host.fresh.get(K.canonical(key)))

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
            "gib": lambda pages: f"{pages * h.page_size / 2**30:.1f}",
            "replace": lambda s, a, b: s.replace(a, b),
            "chr": chr,
        }

    def env(self, s: Setting) -> dict:
        key = K.canonical(s.key)
        status, live = self.host.live(key) if s.kind == "sysctl" else ("unknown", None)
        ints, live_ints = s.ints, _ints(live)
        info = K.KEYS.get(key)
        shape = info.shape if info else ("string" if live and _ints(live) is None else "ints")
        env = {
            "shape": shape,
            "count_live": len(live_ints) if live_ints else None,
            "key": _shown(s.key),
            "value": _shown(s.value),
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
            "reaches_root": s.domain in ("root", "%root", "@root"),
            **self._functions(),
        }
        if s.kind == "sysctl":
            env.update(self._knowledge(s, info, ints))
        if s.kind in ("limits", "ulimit"):
            env.update(_limit_default(s))
        if s.kind == "limits":
            slot = self.limits.get((s.domain, s.key), {})
            env["soft"], env["hard"] = slot.get("soft"), slot.get("hard")
            env["n"] = _limit_value(s.value)
        elif s.kind == "ulimit":
            env["n"] = _limit_value(s.value)
        elif s.kind == "systemd":
            env["soft"], env["hard"] = _soft_hard(s.value)
        return env

    def _knowledge(self, s: Setting, info, ints: list[int] | None) -> dict:
        """What the catalogue knows of this line's key, for the family rules: the boot
        value (knowledge/defaults.py) and whether the line lowers it or repeats it."""
        from tunekit.knowledge.defaults import BootDefault, constant, of

        key = K.canonical(s.key)
        d = of(info, self.ctx) if info is not None else None
        fresh = self.host.fresh.get(key)
        if d is None and fresh is None:
            d = source.default(self.host, key)
        if d is None and fresh is not None and _ints(fresh) is not None:
            d = constant(fresh, "the kernel's default, as a new network namespace holds it")
        elif d is None and fresh is not None:  # text: compared as it is
            d = BootDefault(None, None, f"the kernel's default, {fresh!r} in a new namespace")
        low = list(d.low) if d is not None and d.low is not None else None
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
        since = info.no_effect_since if info is not None else ""
        kernel = self.host.kernel
        return {
            "direction": info.direction if info else None,
            "default_low": low,
            "default_text": d.text() if d else None,
            "default_how": d.how if d else None,
            "below_default": below,
            "unchanged": unchanged,
            "before": f"{prev.file}:{prev.line}" if prev is not None else None,
            "writable": self.host.writable(key),
            "readable": self.host.readable(key),
            **source.registered(key),
            "in_child": info.child if info is not None else source.in_child(self.host, key),
            "runtime_ok": K.runtime_namespaced(key),
            "reserved_outside": self._reserved_outside(info, s.value),
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
            "needs_now": None if s.context else self._needs_now(info),  # the host's boot
            "advised_out": source.outside(info.advised, ints) if info is not None else "",
            "advised": info.advised[2] if info is not None and info.advised else "",
            "unknown_names": source.unknown_names(
                self.host, key, info.choices if info else None, s.value
            ),
            "choices": ", ".join(info.choices[0]) if info and info.choices else "",
            "choices_source": info.choices[1] if info and info.choices else "",
            "socket_max": info.socket_max[0] if info and info.socket_max else None,
            "socket_max_source": info.socket_max[1] if info and info.socket_max else "",
            "key_reason": info.reason if info else "",
            "key_source": info.source if info else "the running kernel",
        }

    def _needs_now(self, info) -> int | None:
        """The value at boot of the key this one needs (catalogue `needs`), if one number."""
        if info is None or not info.needs:
            return None
        value = self.at_boot(info.needs[0])
        return value[0] if value and len(value) == 1 else None

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

    def add(self, rule: Rule, s: Setting | Problem, env: dict) -> None:
        where = f"rule {rule.id}"
        if rule.verdict in ("dead", "syntax"):
            self.refused.add(id(s))  # a write that fails: it overrides and zeroes nothing
        self.findings.append(
            LintFinding(
                file=s.file,
                line=s.line,
                key=_shown(s.key),
                value=_shown(s.value),
                verdict=rule.verdict,
                why=render(rule.why, env, where),
                fix=render(rule.fix, env, where),
                source=render(rule.source, env, where),
                rule=rule.id,
                text=_shown(s.text.strip()),
            )
        )

    def _comment_ignored(self, s: Setting, env: dict) -> Setting | None:
        """The setting as the kernel takes it when an inline '# ...' follows all the numbers
        the key takes, after whitespace (measured: applied, exit 0); None otherwise."""
        before, _, _ = s.value.partition("#")
        numbers = _ints(before)
        wanted = {"int": 1, "range": 2, "triple": 3}.get(env["shape"])
        if wanted is None and env["shape"] == "ints":
            wanted = env["count_live"]
        if not before.endswith(" ") or numbers is None or not wanted or len(numbers) < wanted:
            return None
        return replace(s, value=" ".join(before.split()[:wanted]), problem=None)

    def _extra_dropped(self, s: Setting, env: dict) -> Setting | None:
        """The setting as the kernel takes it when the line gives more numbers than the
        key takes: it reads the vector's length and drops the rest of the write without
        an error (measured: applied, exit 0); None otherwise."""
        words = s.value.split()
        wanted = {"int": 1, "range": 2, "triple": 3}.get(env["shape"])
        if wanted is None and env["shape"] == "ints":
            wanted = env["count_live"]
        if (
            s.problem
            or not wanted
            or len(words) <= wanted
            or _ints(" ".join(words[:wanted])) is None
        ):
            return None  # (`0 junk`: the kernel takes the 0 too; `0junk` it refuses)
        return replace(s, value=" ".join(words[:wanted]))

    def _cut(self, s: Setting, env: dict) -> bool:
        """A line the kernel takes only part of (more numbers than the key takes, or an
        inline comment after them): name it, then lint what is written as any line."""
        check, applied = "extra-values-dropped", None
        if s.kind == "sysctl":
            applied = self._extra_dropped(s, env)
        if applied is None and s.problem == "inline-comment":
            check, applied = "inline-comment-ignored", self._comment_ignored(s, env)
        if applied is None:
            return False
        count = len(applied.value.split())
        dropped = " ".join(s.value.split()[count:])
        names = {"count": count, "applied": applied.value, "dropped": dropped}
        self.add(self.know.by_check(check), s, {**env, **names})
        self.run_rules(applied)
        return True

    def _hits(self, s: Setting, env: dict, snapshot: bool) -> list[Rule]:
        hits = []
        for rule in self.know.rules:
            if rule.check or not rule.matches(s, K.canonical(s.key)):
                continue
            if not rule.holds_on(self.host.kernel) or (snapshot and rule.verdict == "dead"):
                continue
            try:
                if evaluate(rule.when, env):
                    hits.append(rule)
            except Unknown:
                continue
        return hits

    def run_rules(self, s: Setting) -> None:
        env = self.env(s)
        if self._cut(s, env):
            return
        snapshot = self.format_of.get(s.file) == "sysctl-a"
        hits = self._hits(s, env, snapshot)
        fired = len(hits)
        rejected = self._rejected(s) if s.kind == "sysctl" else None
        if rejected or any(r.verdict == "dead" for r in hits):
            # a write that fails changes nothing: what the others say of its effect is moot
            hits = [r for r in hits if r.verdict == "dead"]
        for rule in hits:
            self.add(rule, s, env)
        if rejected and not hits:
            self.add(self.know.by_check("out-of-range"), s, {**env, **rejected})
        if s.problem:
            self.add(self.know.by_check(s.problem), s, env)
        elif (
            s.kind == "sysctl"
            and s.ints is None
            and (_ints(env["live"]) is not None or env["shape"] in ("int", "range", "triple"))
        ):
            self.add(self.know.by_check("not-a-number"), s, env)
        elif s.kind == "sysctl" and env["absent"] and not fired and not snapshot:
            found = source.absent(self.host, K.canonical(s.key))
            if found is not None:
                self.add(self.know.by_check(found[0]), s, {**env, **found[1]})

    def _rejected(self, s: Setting) -> dict | None:
        """The names the out-of-range text needs, when the kernel's own bounds (the
        catalogue's, the ones profiles and the plan enforce) refuse the value."""
        key = K.KEYS.get(K.canonical(s.key))
        if s.ints is None:
            return None
        why = bounds.kernel_rejects(key, s.ints) if key is not None else None
        if why is not None and key is not None:
            low, high = key.minimum, key.maximum
            refused = next(
                v
                for v in s.ints
                if (low is not None and v < low) or (high is not None and v > high)
            )
            return {
                "refused": refused,
                "bound": why,
                "minimum": key.minimum if key.minimum is not None else "any",
                "maximum": key.maximum if key.maximum is not None else "any",
                "key_source": key.source,
            }
        return source.rejects(K.canonical(s.key), s.ints)

    def overridden(self) -> None:
        rule = self.know.by_check("overridden")
        groups: dict[tuple, list[Setting]] = {}
        for s in self.settings:
            if self.format_of.get(s.file) == "sysctl-a" or s.kind == "load" or s.problem:
                continue  # a line the tool rejects overrides nothing
            if id(s) in self.refused:
                continue  # nor does one the kernel refuses
            name = K.canonical(s.key) if s.kind == "sysctl" else s.key
            # a container's line overrides only that container's (context and service)
            groups.setdefault((s.kind, s.context, s.domain, s.type, name), []).append(s)
        for group in groups.values():
            winner = group[-1]
            for s in group[:-1]:
                env = {**self.env(s), "winner": f"{winner.file}:{winner.line}"}
                env["winner_value"] = winner.value
                self.add(rule, s, env)
        self._zeroed()

    def _zeroed(self) -> None:
        """The last line of a key that a later write of its partner sets to 0
        (catalogue.ZEROES: vm.dirty_ratio and vm.dirty_bytes, ...): its value is gone. Only
        a write the kernel takes zeroes anything, and only within one context (the host's
        boot, or one container)."""
        rule = self.know.by_check("zeroed")
        lines = [
            s
            for s in self.sysctls
            if not s.problem
            and self.format_of.get(s.file) != "sysctl-a"
            and s.ints is not None
            and id(s) not in self.refused
        ]
        order = {id(x): n for n, x in enumerate(self.sysctls)}
        pending: dict[tuple, Setting] = {}  # (context, domain, key) -> its last line so far
        for w in lines:  # one pass, in the order they apply
            key, where = K.canonical(w.key), (w.context, w.domain)
            partner, on_change, source = K.ZEROES.get(key, ("", False, ""))
            s = pending.pop((*where, partner), None)
            if s is not None and not (on_change and self._repeats(w, s, order)):
                env = {**self.env(s), "winner": f"{w.file}:{w.line}", "winner_key": w.key}
                self.add(rule, s, {**env, "winner_value": w.value, "zeroes_in": source})
            pending[(*where, key)] = w

    def _repeats(self, w: Setting, partner: Setting, order: dict[int, int]) -> bool:
        """`w` writes what the files already wrote to its key after the partner's line (a
        handler that acts only on a change then does nothing). Otherwise it is a change:
        the partner's line zeroed the key, whatever the live value is."""
        prev = self.before.get(id(w))
        return prev is not None and prev.value == w.value and order[id(prev)] > order[id(partner)]

    def conflicts(self, profile: str, targets: list) -> None:
        from tunekit.model import check, values

        rule = self.know.by_check("conflict")
        for t in targets:
            s = self.effective.get(t.key)
            if s is None or t.entry.kind != "sysctl":
                continue
            try:
                ok = check.satisfied(t, values.parse(t.entry, s.value))
            except (ValueError, TypeError, IndexError):
                ok = False
            if not ok:
                env = {**self.env(s), "profile": profile, "want": check.describe(t)}
                self.add(rule, s, env)

    def changes(self) -> list[BootChange]:
        out = []
        for key, s in self.effective.items():
            status, live = self.host.live(key)
            if status != "present" or live is None:
                continue
            same = _ints(live) == s.ints if s.ints is not None else live == s.value
            if not same:
                out.append(BootChange(key=key, live=live, boot=s.value, file=s.file, line=s.line))
        return out


def lint(
    inputs: list[tuple[str, str, str]],
    host: Host,
    know: Knowledge | None = None,
    profile: tuple[str, list] | None = None,
    mode: Literal["boot", "files"] = "files",
    fail_on: tuple[LintVerdict, ...] = DEFAULT_FAIL_ON,
    unreadable: list[str] | None = None,
) -> LintReport:
    """Lint (path, text, format) inputs, in the order they apply."""
    know = know or knowledge()
    parsed = []
    unreadable = list(unreadable or [])
    for path, text, fmt in inputs:
        p = confparse.parse(text, path, fmt)
        parsed.append(_Input(path, fmt, p.settings, p.problems))
        unreadable += [f"{path}: {why}" for why in p.unread]  # INCOMPLETE, never CLEAN
    host.load_fresh([K.canonical(s.key) for p in parsed for s in p.settings if s.kind == "sysctl"])
    linter = _Linter(parsed, host, know)
    linter.mode = mode
    for item in parsed:
        for problem in item.problems:
            s = Setting(
                problem.file, problem.line, "sysctl", problem.key, problem.value, problem.text
            )
            linter.add(know.by_check(problem.check), s, {**linter.env(s), **problem.extra})
        for s in item.settings:
            if s.kind != "load":
                linter.run_rules(s)
    linter.overridden()
    if profile:
        linter.conflicts(*profile)
    order = {p.path: i for i, p in enumerate(parsed)}
    linter.findings.sort(key=lambda f: (order[f.file], f.line, VERDICTS.index(f.verdict)))
    return LintReport(
        mode=mode,
        files=[LintFile(path=p.path, format=p.format, settings=len(p.settings)) for p in parsed],
        findings=linter.findings,
        fail_on=list(fail_on),
        changes_at_boot=linter.changes(),
        host=LintHost(
            kernel=host.kernel_text,
            memory_bytes=host.mem_bytes,
            live_values=host.live_source,
            container=host.container,
        ),
        unreadable=unreadable,
    )
