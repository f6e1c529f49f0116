"""What lint takes from the kernel source for a key no catalogue entry describes (or for a
key this kernel lacks): the table of every sysctl the source registers
(knowledge/kernel_sysctls.tsv), checked against the running kernel where the source alone
cannot say (its live value, its build options, a namespace made for the purpose)."""

from __future__ import annotations

import re

from tunekit.knowledge import catalogue as K
from tunekit.knowledge import kernel_sysctls
from tunekit.lint.host import Host


def registered(key: str) -> dict:
    """How the kernel takes a write of a key the catalogue does not know: its mode is
    changed at boot (so read-only here says this build lacks a feature, not that the key is
    a counter), or its handler drops the write."""
    reg = kernel_sysctls.known().get(key) if key not in K.KEYS else None
    return {
        "mode_set_at_boot": reg is not None and reg.mode.endswith("+"),
        "write_ignored": reg is not None and reg.ignored == "1",
        "registered_in": reg.source if reg is not None else "",
    }


_NUMERIC = re.compile(r"^proc_do(?:u?int|u8|ulong|long|bool)|^proc_do\w*jiffies")


def read_as_number(key: str) -> bool:
    """Does the kernel read a write of `key` as numbers (proc_get_long, base 0)? A
    catalogue key of a numeric shape, or a handler of the proc_do*int*/long/u8/bool family
    (kernel_sysctls.tsv); not a string (proc_dostring, hostname), nor a mask read as hex
    (cpumask_parse: rps_default_mask), nor a handler the table does not name."""
    info = K.KEYS.get(key)
    if info is not None and info.known:
        return info.shape in ("int", "ints", "range", "triple")
    reg = kernel_sysctls.known().get(key)
    return reg is not None and bool(_NUMERIC.match(reg.handler))


def default(host: Host, key: str):
    """The value the source initialises the key's variable to, believed only where the
    running kernel holds the same (an init function may size it from RAM, as
    min_free_kbytes and page-cluster are) and no boot file of this host sets the key (the
    live value may then be that file's). A BootDefault, or None."""
    from tunekit.knowledge.defaults import constant

    reg = kernel_sysctls.known().get(key)
    if reg is None or not reg.init or key in host.set_at_boot:
        return None
    init, how = reg.init, f"the kernel's default: {reg.defined} initialises it to {reg.init}"
    if init.startswith("cfg:"):  # a build option's value, as this kernel was built
        option = init.rpartition(":")[2]
        init = kernel_sysctls.config_value(init, host.build_options()) or ""
        how = (
            f"the kernel's default: {reg.defined} initialises it from {option} "
            f"(this kernel's build: {init or 'unknown'})"
        )
        if not init:
            return None
    status, live = host.live(key)
    if status != "present" or live is None or live.split() != [init]:
        return None
    return constant(init, how + ", and this kernel holds it")


def in_child(host: Host, key: str) -> str | None:
    """ "absent" for a key a new network namespace lacks (measured, host/freshns.py)
    though the host has it, as net.core.bpf_jit_enable is; None where that is not known."""
    if key in host.fresh_asked and key not in host.in_new_ns:
        return "absent" if host.live(key)[0] == "present" else None
    return None


# what the value's C type holds, by handler: a number past it is EINVAL whatever the bounds
# (kernel/sysctl.c do_proc_dointvec_conv, do_proc_douintvec_conv, proc_dou8vec_minmax)
_TYPE_RANGE = {
    "proc_dointvec": (-(2**31), 2**31 - 1),
    "proc_dointvec_minmax": (-(2**31), 2**31 - 1),
    "proc_douintvec": (0, 2**32 - 1),
    "proc_douintvec_minmax": (0, 2**32 - 1),
    "proc_dou8vec_minmax": (0, 255),
}


# handlers that refuse any minus sign, -0 included (kernel/sysctl.c do_proc_douintvec_w:
# `if (err || neg) return -EINVAL`; proc_dou8vec_minmax goes through it)
_UNSIGNED = ("proc_douintvec", "proc_douintvec_minmax", "proc_dou8vec_minmax")


def rejects(key: str, ints: list[int], value: str = "") -> dict | None:
    """The names the out-of-range text needs when the bounds of the key's table entry (the
    extra1/extra2 its *_minmax handler enforces, else what its handler's C type holds)
    refuse one of the numbers, or an unsigned handler a minus sign; None if not."""
    reg = kernel_sysctls.known().get(key)
    if reg is None:
        return None
    signed = [w for w in value.split() if w.startswith("-")]
    if reg.handler in _UNSIGNED and signed:
        return {
            "refused": signed[0],
            "bound": f"signed, and its handler ({reg.handler}) refuses any minus sign",
            "minimum": 0,
            "maximum": reg.high or "any",
            "key_source": f"{reg.source}; kernel/sysctl.c do_proc_douintvec_w",
        }
    kind = _TYPE_RANGE.get(reg.handler, (None, None))
    low = int(reg.low) if reg.low else kind[0]
    high = int(reg.high) if reg.high else kind[1]
    if low is None and high is None:
        return None
    for v in ints:
        below = low is not None and v < low
        if below or (high is not None and v > high):
            side = f"below {low}, the smallest" if below else f"above {high}, the largest"
            return {
                "refused": v,
                "bound": f"{side} value its handler accepts",
                "minimum": low if low is not None else "any",
                "maximum": high if high is not None else "any",
                "key_source": f"{reg.source} (the entry's extra1/extra2, which its "
                "*_minmax handler enforces)",
            }
    return None


def absent(host: Host, key: str) -> tuple[str, dict] | None:
    """What a key this kernel lacks is: (the check that names it, the names its text
    needs), or None when it will be there when the boot files apply (its module is loaded
    at boot). `absent`: Linux has no such key (a typo, or removed before the table's
    release); `removed-since`: this kernel is built with everything the key needs and still
    lacks it; `not-built`: this build left it out."""
    reg = kernel_sysctls.known().get(key)
    linux = kernel_sysctls.release()
    if reg is None:
        return "absent", {"linux": linux}
    if reg.module and reg.module in host.modules_at_boot:
        return None  # loaded before systemd-sysctl runs: the line applies
    options = reg.option.split()
    config = host.build_options()
    option = " and ".join(f"CONFIG_{o}" for o in options)
    names = {"linux": linux, "registered_in": reg.source, "option": option}
    if not options or (config is not None and all(config.get(o) == "y" for o in options)):
        return "removed-since", names  # nothing this build could have left out
    if config is not None and reg.module and all(config.get(o) in ("y", "m") for o in options):
        missing = f"has it in the module {reg.module}, which is not loaded, nor loaded at boot"
    elif config is not None:
        off = [f"CONFIG_{o}" for o in options if config.get(o) != "y"]
        missing = f"is built without {' or '.join(off)}"
    else:
        missing = f"lacks it (built without {option}, or its module not loaded)"
    return "not-built", {**names, "missing": missing}


def outside(advised, ints: list[int] | None) -> str:
    """'at least 3' or 'at most 999', where one number lies outside the range the key's
    documentation advises (catalogue `advised`); "" otherwise."""
    if not advised or not ints or len(ints) != 1:
        return ""
    low, high, _ = advised
    if low is not None and low == high:
        return "" if ints[0] == low else f"{low} only"
    if low is not None and ints[0] < low:
        return f"at least {low}"
    if high is not None and ints[0] > high:
        return f"at most {high}"
    return ""


def unknown_names(host: Host, key: str, choices, value: str) -> str:
    """The names in `value` that the kernel registers nowhere (catalogue `choices`) and
    that the running kernel does not list either; "" when every name is known."""
    if not choices or not value.strip() or "#" in value:
        return ""  # an inline comment: the inline-comment rule says what the kernel gets
    from tunekit.knowledge.catalogue import AVAILABLE_NAMES

    known = set(choices[0])
    if key in AVAILABLE_NAMES:
        live = host.live(AVAILABLE_NAMES[key])[1]
        known.update((live or "").split())
    return " ".join(n for n in value.split() if n not in known)


def unknown_param(host: Host, key: str) -> str:
    """`options MODULE name=...` where MODULE declares no parameter `name`: the module's
    source (kernel_modparams.tsv; Linux 6.12) lists its parameters, or the loaded module's
    /sys/module/MODULE/parameters does. "" where it has it, or where that is not known (a
    module not in the table, or one whose parameters the source makes by a macro)."""
    from tunekit.knowledge import kernel_modparams

    module, _, name = key.partition(".")
    name = name.replace("-", "_")  # kernel/params.c parameq: - and _ are the same
    if not name or name in kernel_modparams.EVERY_MODULE:
        return ""
    params, uncertain = kernel_modparams.known().get(module, (None, True))
    if params is None or uncertain or name in params:
        return ""
    # a loaded module lists what it takes (not a parameter declared with mode 0, which
    # the source table has): a newer kernel's own parameters count
    loaded = host.module_params(module) if host.module_params is not None else None
    if loaded is not None:
        return "" if name in loaded else "loaded"
    release = kernel_modparams.table_release()
    if host.kernel is not None and release is not None and host.kernel > release:
        return "newer"  # this kernel is newer than the table: it may have gained it
    return "source"


def sysfs_default(host: Host, path: str) -> tuple[str, str]:
    """(the value the sysfs file holds at boot, where that was read), ("", "") where
    unknown: catalogue SYSFS_DEFAULTS, a Kconfig choice read from the running kernel's
    build options, and the command-line parameter that overrides it."""
    entry = K.SYSFS_DEFAULTS.get(path)
    if entry is None:
        return "", ""
    value, override, where = entry
    if override:
        given = host.kernel_arg(override) if host.kernel_arg is not None else None
        if given is None:
            return "", ""  # the command line is not known: it may override the build
        if given:
            return given, f"{override}= on the kernel command line ({where})"
    if isinstance(value, dict):
        config = host.build_options()
        if config is None:
            return "", ""
        chosen = [v for option, v in value.items() if option and config.get(option) == "y"]
        value = chosen[0] if chosen else value.get("", "")
        if not value:
            return "", ""
        where = f"this kernel's build options; {where}"
    return value, where


def param_rejected(key: str, value: str) -> str:
    """The parameter's type where the kernel refuses `value` for it (EINVAL: "1_6" for an
    int, "maybe" for a bool, -1 for an unsigned one), else "". A module given a value its
    parameter refuses does not load: kernel/params.c parse_one returns the setter's error
    and load_module (kernel/module/main.c) gives up on it."""
    from tunekit.knowledge import kernel_modparams

    module, _, name = key.partition(".")
    kind = kernel_modparams.kind(module, name.replace("-", "_"))
    if kind is None or kernel_modparams.as_given(kind, value) is not None:
        return ""
    return {"bool": "a bool", "uint": "an unsigned number"}.get(kind, "a number")


def param_default(host: Host, key: str, value: str) -> str:
    """`options MODULE name=value` that gives the value the module starts with anyway
    (kernel_modparams.tsv: a literal initialiser in the source), read as the kernel reads
    it (a bool by kstrtobool, a number base 0): the default as text, else "". A loaded
    module must hold the same now (its /sys/module/M/parameters/name), since init code may
    change what the source starts with."""
    from tunekit.knowledge import kernel_modparams

    module, _, name = key.partition(".")
    name = name.replace("-", "_")  # kernel/params.c parameq: - and _ are the same
    found = kernel_modparams.default(module, name)
    if found is None:
        return ""
    kind, start = found
    if kernel_modparams.as_given(kind, value) != start:
        return ""
    live = host.module_param_value(module, name) if host.module_param_value else None
    if live is not None and kernel_modparams.as_given(kind, live) != start:
        return ""
    return ("Y" if start else "N") if kind == "bool" else str(start)
