"""Tuning written as YAML: what a container runtime sets (docker-compose and Kubernetes
`sysctls:`), what configuration management writes (Ansible's sysctl, pam_limits,
lineinfile, blockinfile and copy tasks; Salt's sysctl.present), and the command lines
Ansible's shell, command and raw tasks and cloud-init's runcmd and bootcmd run
(confrun.py: read as scripts, with or without a shell as each runs them).

PyYAML reads the file, through its composer (yaml.compose_all with the SafeLoader: no tag
runs code), because the composer keeps the line of every node, so a finding points at the
line the setting is on. Aliases are nodes shared, not copied: the walk visits each node
once and stops after MAX_NODES, so a file of nested aliases (a "billion laughs") costs
what its text costs.

Each setting becomes a line of the format it is written in (sysctl.conf or limits.conf)
at its line of the file, and is read by that format's parser, so a YAML line is judged
as the same line in a sysctl.d file would be. A container runtime's setting is marked
(Setting.context = "runtime"): runc writes it inside the container's own namespaces, and
refuses a key that has none (lint's `runtime-*` rules).
"""

from __future__ import annotations

import os
import re
from typing import Any

from tunekit.host import confrun
from tunekit.host.confparse import Parsed, Problem, Setting, limits_conf, sysctl_conf
from tunekit.knowledge.catalogue import ipc_namespaced

MAX_NODES = 100_000
SYSCTL_TASKS = ("sysctl", "ansible.posix.sysctl", "ansible.builtin.sysctl")
LIMITS_TASKS = ("pam_limits", "community.general.pam_limits")
TEXT_TASKS = {  # module -> (the text's argument, the file's); ansible.legacy.X is X
    f"{prefix}{name}": args
    for name, args in (
        ("lineinfile", ("line", "path")),
        ("blockinfile", ("block", "path")),
        ("copy", ("content", "dest")),
    )
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
}
LOOPS = ("loop", "with_items", "with_list", "with_dict")
# keys of a docker-compose service beside `sysctls:`
COMPOSE_SERVICE = {"image", "build", "container_name", "network_mode", "ulimits", "cap_add"}
# Ansible's free form, `name={{ item.key }} value='1 2'`: a template or quotes hold spaces
_FREE_FORM = re.compile(r"(\w+)=((?:\{\{.*?\}\}|'[^']*'|\"[^\"]*\"|[^\s{'\"])+)")
_SYSCTL_NAME = re.compile(r"^(net|vm|fs|kernel|dev|abi|user|crypto|sunrpc)\.[A-Za-z0-9_.-]+$")
_ITEM = re.compile(r"\{\{\s*item(?:\.(\w+)|\[['\"](\w+)['\"]\])?\s*\}\}")


def yaml_file(text: str, file: str) -> Parsed:
    import yaml  # PyYAML: only a YAML file needs it

    out = Parsed("yaml")
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        out.unread.append(f"not read as YAML{where}: {getattr(err, 'problem', err)}")
        return out
    walk = _Walk(file, text.splitlines(), out)
    for doc in documents:
        if doc is not None:
            walk.node(doc)
    if walk.budget <= 0:
        out.unread.append(f"stopped after {MAX_NODES:,} YAML nodes; what follows was not checked")
    return out


class _Walk:
    def __init__(self, file: str, lines: list[str], out: Parsed):
        self.file, self.lines, self.out = file, lines, out
        self.seen: set[int] = set()
        self.consumed: set[int] = set()  # nodes a handler has read (not read again as data)
        self.services: set[int] = set()  # a compose file's `services:` mappings
        self.budget = MAX_NODES

    def node(self, node) -> None:
        """Every mapping of the document, once: each is looked at as a task, a service and
        a Salt state, then its children."""
        compose = node.id == "mapping" and any(_scalar(k) == "services" for k, _ in node.value)
        if compose:  # a compose file: its services, and no host variables in its x- fields
            self.services.update(id(v) for k, v in node.value if _scalar(k) == "services")
        # (node, the key it is the value of, the `domain:` of the nearest mapping above,
        # the mapping it is in)
        stack: list[tuple[Any, str, str, int]] = [(node, "", "", 0)]
        while stack and self.budget > 0:
            n, parent, domain, within = stack.pop()
            if id(n) in self.seen:
                continue
            self.seen.add(id(n))
            self.budget -= 1
            if n.id == "mapping":
                fields = {k.value: v for k, v in n.value if k.id == "scalar"}
                domain = _scalar(fields.get("domain")) or domain
                self.mapping(n, parent, domain, within in self.services, compose)
                stack.extend((v, _scalar(k) or "", domain, id(n)) for k, v in reversed(n.value))
            elif n.id == "sequence":
                stack.extend((v, parent, domain, within) for v in reversed(n.value))

    def mapping(self, m, parent: str, domain: str = "", service=False, compose=False) -> None:
        if id(m) in self.consumed:
            return  # a task's arguments or a loop's item, read with its task
        fields = {k.value: v for k, v in m.value if k.id == "scalar"}
        if not compose:
            self.variables(m, fields, domain)
        self.containers(m, fields, parent, service)
        self.tasks(fields)
        self.salt(m)
        self.cloud_init(fields)

    def containers(self, m, fields: dict, parent: str, service: bool) -> None:
        """A pod spec's securityContext.sysctls; a compose service's sysctls (a mapping
        under `services:`, or beside an image or a build). A `sysctls:` anywhere else (a
        role's variables) is a list of settings for wherever the play writes them."""
        context = fields.get("securityContext")
        if context is not None and context.id == "mapping":
            inner = {k.value: v for k, v in context.value if k.id == "scalar"}
            if "sysctls" in inner:
                host = {
                    "net": _truthy(fields.get("hostNetwork")),
                    "ipc": _truthy(fields.get("hostIPC")),
                }
                self.runtime(inner["sysctls"], f"pod at line {m.start_mark.line + 1}", host)
        if "sysctls" not in fields:
            return
        if service or COMPOSE_SERVICE & set(fields) or parent == "securityContext":
            host = {
                "net": _scalar(fields.get("network_mode")) == "host",
                "ipc": _scalar(fields.get("ipc")) == "host",
            }
            self.runtime(fields["sysctls"], f"service {parent or 'at line'}", host)
        else:
            self.runtime(fields["sysctls"], "", {})

    def tasks(self, fields: dict) -> None:
        """Ansible's modules: sysctl, pam_limits, and the ones that write a file's text."""
        for name in SYSCTL_TASKS:
            if name in fields:
                self.task(fields, fields[name], self.sysctl_args)
        for name in LIMITS_TASKS:
            if name in fields:
                self.task(fields, fields[name], self.limits_args)
        for name, (text_arg, path_arg) in TEXT_TASKS.items():
            if name in fields:
                args = _args(fields[name])
                path = _scalar(args.get(path_arg) or args.get("dest") or args.get("path"))
                state = _scalar(args.get("state")) or "present"
                if args.get(text_arg) is not None and path and state == "present":
                    self.text_into(args[text_arg], path)
        for name, shell in confrun.ANSIBLE_COMMANDS.items():
            if name in fields:
                self.command_task(fields, fields[name], shell)

    def command_task(self, fields: dict, node, shell: bool) -> None:
        """shell, command, raw: the free form or `cmd:` (command's `argv:` list, run
        without a shell), once per item of the task's loop."""
        self.consumed.add(id(node))
        if _scalar(node) in (None, "") and "args" in fields:
            node = fields["args"]  # `shell:` with its command under `args: cmd:`
        if node.id == "mapping":
            args = _args(node)
            argv = args.get("argv")
            if args.get("cmd") is None and argv is not None and argv.id == "sequence":
                words = [_scalar(w) or "" for w in argv.value]
                node, shell = _Scalar(confrun.argv_text(words), argv.start_mark), False
            else:
                node = args.get("cmd")
        if node is None or node.id != "scalar":
            return
        if not isinstance(node, _Scalar):
            node = _Scalar(confrun.free_form(str(node.value)), node.start_mark, node.style)
        loop = next((fields[k] for k in LOOPS if k in fields), None)
        if loop is None or loop.id != "sequence" or "{{" not in str(node.value):
            self.run(str(node.value), node, shell)
            return
        self.consumed.add(id(loop))
        for i in loop.value:  # each run is reported on its item's line
            item = {**(_args(i) if i.id == "mapping" else {}), "": i}
            self.run(_fill(str(node.value), item) or "", _Scalar("", i.start_mark), shell)

    def cloud_init(self, fields: dict) -> None:
        """cloud-config, in the order cloud-init runs it: bootcmd (each boot, early),
        write_files (each file's content, read as that file), runcmd (first boot, last).
        A command given as a string is run by sh, one given as a list is execve'd."""
        self.cloud_commands(fields.get("bootcmd"))
        files = fields.get("write_files")
        for item in files.value if files is not None and files.id == "sequence" else ():
            args = _args(item) if item.id == "mapping" else {}
            path, content = _scalar(args.get("path")), args.get("content")
            if path and content is not None and content.id == "scalar":
                self.consumed.add(id(item))
                text = _cloud_content(content, _scalar(args.get("encoding")) or "")
                if text is not None:
                    node = content if text == content.value else _Scalar(text, content.start_mark)
                    self.text_into(node, os.path.normpath(path))
        self.cloud_commands(fields.get("runcmd"))

    def cloud_commands(self, node) -> None:
        """runcmd or bootcmd: every item into one script, as cloud-init writes it."""
        if node is None or node.id != "sequence":
            return
        self.consumed.add(id(node))
        pieces: list[tuple[str, object, bool]] = []
        for item in node.value:
            self.consumed.add(id(item))
            if item.id == "scalar":
                pieces.append((str(item.value), item, True))
            elif item.id == "sequence":
                words = [_scalar(w) or "" for w in item.value]
                pieces.append((confrun.argv_text(words), _Scalar("", item.start_mark), False))
        self.add_script(confrun.script_of(pieces, self.file), node)

    def run(self, text: str, node, shell: bool) -> None:
        if "{{" in text:
            return  # a template only the play knows
        self.add_script(confrun.script_lines(text, node, self.file, shell), node)

    def add_script(self, parsed: Parsed, node) -> None:
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            self._text(item)
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems
        self.out.unread += [f"line {node.start_mark.line + 1}: {u}" for u in parsed.unread]

    def salt(self, m) -> None:
        """Salt: NAME: {sysctl.present: [{value: V}]} (or a `name:` among the arguments)."""
        for key, value in m.value:
            if key.id == "scalar" and value.id == "mapping":
                states = {k.value: v for k, v in value.value if k.id == "scalar"}
                if "sysctl.present" in states:
                    args = _args(states["sysctl.present"])
                    name = _scalar(args.get("name")) or key.value
                    self.sysctl(name, args.get("value"), args.get("value") or key)

    def variables(self, m, fields: dict, domain: str) -> None:
        """Settings kept as data for a play to write (a role's defaults, vars files):
        `- name: net.core.somaxconn` / `value: 1024` items, or a mapping whose every key
        is a sysctl name (`vm.swappiness: 10`); pam_limits items (`limit_item` or
        `limit_name`, `limit_type`, `value` or `limit_value`, and the `domain` given there
        or above)."""
        item = _scalar(fields.get("limit_item") or fields.get("limit_name"))
        typ = _scalar(fields.get("limit_type"))
        limit = _scalar(fields.get("value") or fields.get("limit_value"))
        if item and typ and limit is not None and domain and "{{" not in item + typ + limit:
            parsed = limits_conf(f"{domain} {typ} {item} {limit}", self.file)
            self.add_parsed(parsed, m.start_mark.line + 1)
            return
        name, value = _scalar(fields.get("name")), _scalar(fields.get("value"))
        if name and value is not None and _SYSCTL_NAME.match(name):
            self.add_sysctl(name, value, m.start_mark.line + 1)
            return
        pairs = [(k, v) for k, v in m.value if k.id == "scalar" and v.id == "scalar"]
        if (
            pairs
            and len(pairs) == len(m.value)
            and all(_SYSCTL_NAME.match(k.value) for k, _ in pairs)
        ):
            for k, v in pairs:
                self.add_sysctl(k.value, v.value, k.start_mark.line + 1)

    # --- what each writer writes --------------------------------------------------------

    def runtime(self, node, container: str, host: dict) -> None:
        """`sysctls:` as a mapping (key: value) or a list (`- key=value`, or Kubernetes'
        `- name: key` / `value: v`), set by a runtime in `container` ("" : read as the
        host's settings); `host` says which namespaces the container shares with the host.
        A node shared by an alias is read once."""
        if id(node) in self.consumed:
            return
        self.consumed.add(id(node))
        self.consumed.update(id(item) for item in node.value if node.id == "sequence")
        where = (container, host)
        if node.id == "mapping":
            for k, v in node.value:
                self.sysctl(_scalar(k), v, v, where)
        elif node.id == "sequence":
            for item in node.value:
                if item.id == "scalar" and "=" in item.value:
                    name, _, value = item.value.partition("=")
                    self.add_sysctl(name, value, item.start_mark.line + 1, where)
                elif item.id == "mapping":
                    args = _args(item)
                    value = args.get("value")
                    self.sysctl(_scalar(args.get("name")), value, value or item, where)

    def task(self, fields: dict, args_node, handler) -> None:
        """One Ansible task, once per item of its loop."""
        loop = next((fields[k] for k in LOOPS if k in fields), None)
        self.consumed.add(id(args_node))
        if loop is not None:
            self.consumed.add(id(loop))
            self.consumed.update(id(item) for item in loop.value if loop.id == "sequence")
        if loop is None:
            handler(_args(args_node), args_node, None)
            return
        if loop.id == "mapping":  # with_dict: item.key, item.value
            for k, v in loop.value:
                handler(_args(args_node), k, {"key": k, "value": v, "": k})
        elif loop.id == "sequence":
            for item in loop.value:
                given = _args(item) if item.id == "mapping" else {}
                handler(_args(args_node), item, {**given, "": item})

    def sysctl_args(self, args: dict, where, item: dict | None) -> None:
        state = _fill(_scalar(args.get("state")), item) or "present"
        if state != "present":
            return  # absent removes the key from the file; a template only the play knows
        name = _fill(_scalar(args.get("name") or args.get("key")), item)
        value_node = args.get("value") if args.get("value") is not None else args.get("val")
        value = _ansible_value(_fill(_scalar(value_node), item))
        if item is None and value_node is not None:
            where = value_node  # the line the user edits
        if name is not None and value is not None:
            self.add_sysctl(name, value, where.start_mark.line + 1)

    def limits_args(self, args: dict, where, item: dict | None) -> None:
        parts = [
            _fill(_scalar(args.get(k)), item)
            for k in ("domain", "limit_type", "limit_item", "value")
        ]
        words = [p for p in parts if p is not None]
        if len(words) == 4:
            self.add_parsed(limits_conf(" ".join(words), self.file), where.start_mark.line + 1)

    def text_into(self, node, path: str) -> None:
        """lineinfile's line, blockinfile's block, copy's content: lines of the file they
        go into, when that is a sysctl or limits file."""
        from tunekit.host.shcommands import format_of

        fmt = format_of(path)
        if fmt is None or node.id != "scalar":
            return
        # a literal block (|) keeps its lines, one per line of the file after the |; any
        # other scalar (folded, quoted with \n escapes) is reported on the line it starts
        literal = node.style == "|"
        first = node.start_mark.line + 1 + literal
        parser = sysctl_conf if fmt == "sysctl.conf" else limits_conf
        parsed = parser(node.value, self.file)
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            item.line = first + item.line - 1 if literal else first
            self._text(item)
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems

    def sysctl(self, name: str | None, value_node, where, runtime: tuple = ("", {})) -> None:
        value = _scalar(value_node)
        if name and value is not None:
            self.add_sysctl(name, value, where.start_mark.line + 1, runtime)

    def add_sysctl(self, name: str, value: str, line: int, runtime: tuple = ("", {})) -> None:
        """One sysctl; `runtime` (container, host namespaces): set by a container runtime in
        that container (context "runtime"; "runtime-hostnet" / "runtime-hostipc" for a key
        of a namespace the container shares with the host)."""
        if "{{" in name or "{{" in value or "\n" in name + value:
            return  # a template only the run knows
        parsed = sysctl_conf(f"{name.strip()} = {value}", self.file)
        container, host = runtime
        for s in parsed.settings if container else ():
            s.context, s.domain = "runtime", container
            if host.get("net") and s.key.startswith("net."):
                s.context = "runtime-hostnet"
            elif host.get("ipc") and ipc_namespaced(s.key):
                s.context = "runtime-hostipc"
        self.add_parsed(parsed, line)

    def add_parsed(self, parsed: Parsed, line: int) -> None:
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            item.line = line
            self._text(item)
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems

    def _text(self, item: Setting | Problem) -> None:
        if 0 < item.line <= len(self.lines):
            item.text = self.lines[item.line - 1].strip()


MAX_CONTENT = 1 << 20  # bytes of a decoded write_files content read, at most


def _cloud_content(node, encoding: str) -> str | None:
    """A write_files content as cloud-init writes it (cc_write_files.py extract_contents:
    the encoding lower-cased; b64/base64, gz/gzip and gz+b64; an unknown one is taken as
    text/plain; a YAML !!binary value is already bytes). None where it cannot be read."""
    import base64
    import binascii
    import zlib

    enc = encoding.strip().lower()
    steps = {
        "b64": ["b64"],
        "base64": ["b64"],
        "gz": ["gz"],
        "gzip": ["gz"],
        "gz+b64": ["b64", "gz"],
        "gz+base64": ["b64", "gz"],
        "gzip+b64": ["b64", "gz"],
        "gzip+base64": ["b64", "gz"],
    }.get(enc, [])
    if node.tag == "tag:yaml.org,2002:binary" and steps[:1] != ["b64"]:
        steps = ["b64", *steps]
    data: bytes = str(node.value).encode()
    try:
        for step in steps:
            if step == "b64":
                data = base64.b64decode("".join(data.decode("ascii").split()), validate=True)
            else:
                z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = z.decompress(data, MAX_CONTENT)
        return data[:MAX_CONTENT].decode("utf-8")
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        return None


def _args(node) -> dict:
    """A module's arguments: a mapping, Salt's list of one-key mappings, or Ansible's
    free form `name=x value=y`."""
    if node is None:
        return {}
    if node.id == "mapping":
        return {k.value: v for k, v in node.value if k.id == "scalar"}
    if node.id == "sequence":
        out = {}
        for item in node.value:
            if item.id == "mapping":
                out.update({k.value: v for k, v in item.value if k.id == "scalar"})
        return out
    return {
        m[1]: _Scalar(m[2].strip("'\""), node.start_mark)
        for m in _FREE_FORM.finditer(str(node.value))
    }


class _Scalar:
    """A value cut from a free-form argument string, shaped as a composer node."""

    id = "scalar"

    def __init__(self, value: str, mark, style=None):
        self.value, self.start_mark, self.style = value, mark, style


# ansible.posix's sysctl module writes these as 1 and 0 (plugins/modules/sysctl.py
# _parse_value, with Ansible's BOOLEANS_TRUE / BOOLEANS_FALSE)
_TRUE = {"y", "yes", "on", "true", "t"}
_FALSE = {"n", "no", "off", "false", "f"}


def _ansible_value(text: str | None) -> str | None:
    if text is None:
        return None
    if text.strip().lower() in _TRUE:
        return "1"
    if text.strip().lower() in _FALSE:
        return "0"
    return text


def _truthy(node) -> bool:
    return _scalar(node) in ("true", "True", "yes", "on")


def _scalar(node) -> str | None:
    if node is None or node.id != "scalar":
        return None
    return str(node.value)


def _fill(text: str | None, item: dict | None) -> str | None:
    """`{{ item.name }}`, `{{ item['value'] }}`, `{{ item }}` of a loop's item."""
    if text is None or item is None or "{{" not in text:
        return text

    def value(m: re.Match) -> str:
        got = _scalar(item.get(m[1] or m[2] or ""))
        return got if got is not None else m[0]

    return _ITEM.sub(value, text)
