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

import re
from typing import Any

from tunekit.host import confparse, confrun
from tunekit.host import yamlnodes as Y
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
# keys of a docker-compose service beside `sysctls:`
COMPOSE_SERVICE = {"image", "build", "container_name", "network_mode", "ulimits", "cap_add"}
_SYSCTL_NAME = re.compile(r"^(net|vm|fs|kernel|dev|abi|user|crypto|sunrpc)\.[A-Za-z0-9_.-]+$")
_TUNED_PROFILE = re.compile(r"^\[(main|sysctl|vm|sysfs)\][ \t]*$", re.M)
_LINE_ITEM_FIELDS = {"regexp", "line", "state", "path", "dest", "insertafter", "insertbefore"}
_KEY_FIELD = re.compile(r"option|param(eter)?|sysctl|setting|knob|variable|kernel_param", re.I)
_WRITES_UNDER = re.compile(r"sysfs|sysctl|procfs|kernel|tun(ing|ables)|settings", re.I)
_NOT_WRITES = re.compile(r"perm|mode|owner|group|label|metric|watch|expect|check|desc", re.I)
_WRITTEN = re.compile(r"^/(proc/sys|sys)/[A-Za-z0-9_./:@+-]+$")


_DIRECTIVE = re.compile(
    r"^[ \t]*(?:%\{~?[^\n]*?~?\}|\{%-?[^\n]*?-?%\}"
    r"|(?:s?include|define|undefine|ifdef|ifelse|divert|changequote)\([^\n]*\)|dnl\b[^\n]*)[ \t]*$",
    re.M,
)  # Terraform's %{ }, Jinja's {% %}, an m4 macro call on its own line


_CONTROL = re.compile(
    r"^[ \t-]*(?:rescue|always|handlers|ignore_errors|any_errors_fatal|block)\s*:|\{%", re.M
)
_PLAY = re.compile(r"^[ \t-]*hosts\s*:", re.M)


def _fails_the_host(fields: dict, args: dict) -> bool:
    """Does a failed write fail this sysctl task, so that Ansible runs no further task on
    the host ("by default it stops executing on that host": playbooks_error_handling)?
    ansible.posix's sysctl fails when its `sysctl -p FILE` reload (on by default) exits
    non-zero, which procps does for a missing key or a refused value; not with
    ignoreerrors (sysctl -e), ignore_errors, failed_when or when."""
    if "ignore_errors" in fields or "failed_when" in fields or "when" in fields:
        return False  # a template may say either, or skip the task: not claimed
    if Y.ansible_value(Y.scalar(args.get("ignoreerrors")) or "no") in ("1", "true", "yes"):
        return False
    # the reload fails on a missing key; sysctl_set alone does not (the module skips
    # `sysctl -w` for a key it cannot read)
    return Y.ansible_value(Y.scalar(args.get("reload")) or "yes") in ("1", "true", "yes")


def yaml_file(text: str, file: str) -> Parsed:
    import yaml  # PyYAML: only a YAML file needs it

    out = Parsed("yaml")
    plain = text
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        # a template's control lines (Terraform's `%{ if ... }`, Jinja's `{% for ... %}`)
        # are not YAML; rendered, they leave their bodies: read with them blanked, the
        # lines of every branch (one line each, so the line numbers hold)
        plain = _DIRECTIVE.sub("", text)
        try:
            if plain == text:
                raise
            documents = list(yaml.compose_all(plain, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            out.unread.append(f"not read as YAML{where}: {getattr(err, 'problem', err)}")
            return out
    walk = _Walk(file, text.splitlines(), out)
    for doc in documents:
        if doc is not None:
            walk.node(doc)
    if _CONTROL.search(text) or len(_PLAY.findall(text)) > 1:
        # a rescue or always block, handlers, a block's or play's ignore_errors, a Jinja
        # branch, several plays: what runs after a failure is not this reader's to say
        for s in out.settings:
            s.stops_play = False
    if plain != text:
        for s in out.settings:
            s.templated = True
    if plain != text or file.endswith(".m4"):
        # an m4 macro the file defines, or a macro call, in a value: m4 replaces it before
        # anything reads the YAML, so the value is only the rendering's to know
        macros = set(re.findall(r"^[ \t]*define\(\s*`?(\w+)", text, re.M))
        out.settings = [s for s in out.settings if not _m4_value(s.value, macros)]
    if walk.budget <= 0:
        out.unread.append(f"stopped after {MAX_NODES:,} YAML nodes; what follows was not checked")
    return out


def _m4_value(value: str, macros: set[str]) -> bool:
    return (
        "`" in value
        or bool(re.search(r"\w\(", value))
        or bool(set(re.findall(r"\w+", value)) & macros)
    )


class _Walk(confrun.Commands):
    def __init__(self, file: str, lines: list[str], out: Parsed):
        self.file, self.lines, self.out = file, lines, out
        self.seen: set[int] = set()
        self.consumed: set[int] = set()  # nodes a handler has read (not read again as data)
        self.services: set[int] = set()  # a compose file's `services:` mappings
        self.budget = MAX_NODES

    def node(self, node) -> None:
        """Every mapping of the document, once: each is looked at as a task, a service and
        a Salt state, then its children."""
        compose = node.id == "mapping" and any(Y.scalar(k) == "services" for k, _ in node.value)
        if compose:  # a compose file: its services, and no host variables in its x- fields
            self.services.update(id(v) for k, v in node.value if Y.scalar(k) == "services")
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
                domain = Y.scalar(fields.get("domain")) or domain
                self.mapping(n, parent, domain, within in self.services, compose)
                stack.extend((v, Y.scalar(k) or "", domain, id(n)) for k, v in reversed(n.value))
            elif n.id == "sequence":
                stack.extend((v, parent, domain, within) for v in reversed(n.value))

    def mapping(self, m, parent: str, domain: str = "", service=False, compose=False) -> None:
        if id(m) in self.consumed:
            return  # a task's arguments or a loop's item, read with its task
        fields = {k.value: v for k, v in m.value if k.id == "scalar"}
        if not compose:
            self.variables(m, fields, domain, parent)
        self.containers(m, fields, parent, service)
        if service:  # a compose service: its command runs in its container, no Ansible task
            self.container_command(fields, ("entrypoint", "command"), fields.get("privileged"))
        elif "image" not in fields:  # a pod's container: read with its pod spec
            self.tasks(fields)
        elif parent not in ("containers", "initContainers") and {"command", "args"} & set(fields):
            # a container on its own: a Helm template's `define`, an Argo step's
            # `container:`, Ansible's docker_container
            context = Y.args(fields.get("securityContext"))
            privileged = context.get("privileged") or fields.get("privileged")
            self.container_command(fields, ("command", "args"), privileged)
        self.salt(m)
        self.cloud_init(fields)
        self.pod_containers(fields)
        data = fields.get("data")
        if data is not None and data.id == "scalar" and _TUNED_PROFILE.search(str(data.value)):
            # OpenShift's Tuned resource: spec.profile[].data is a TuneD profile
            self.text_as(data, "tuned", jinja=False)

    def containers(self, m, fields: dict, parent: str, service: bool) -> None:
        """A pod spec's securityContext.sysctls; a compose service's sysctls (a mapping
        under `services:`, or beside an image or a build). A `sysctls:` anywhere else (a
        role's variables) is a list of settings for wherever the play writes them."""
        context = fields.get("securityContext")
        if context is not None and context.id == "mapping":
            inner = {k.value: v for k, v in context.value if k.id == "scalar"}
            if "sysctls" in inner:
                host = {
                    "net": Y.truthy(fields.get("hostNetwork")),
                    "ipc": Y.truthy(fields.get("hostIPC")),
                }
                self.runtime(inner["sysctls"], f"pod at line {m.start_mark.line + 1}", host)
        if "sysctls" not in fields:
            return
        if service or COMPOSE_SERVICE & set(fields) or parent == "securityContext":
            host = {
                "net": Y.scalar(fields.get("network_mode")) == "host",
                "ipc": Y.scalar(fields.get("ipc")) == "host",
            }
            self.runtime(fields["sysctls"], f"service {parent or 'at line'}", host)
        else:
            self.runtime(fields["sysctls"], "", {})

    def tasks(self, fields: dict) -> None:
        """Ansible's modules: sysctl, pam_limits, and the ones that write a file's text."""
        for name in SYSCTL_TASKS:
            if name in fields:
                first = len(self.out.settings)
                self.task(fields, fields[name], self.sysctl_args)
                stops = _fails_the_host(fields, Y.args(fields[name]))
                for s in self.out.settings[first:]:
                    s.stops_play, s.task = stops, fields[name].start_mark.line + 1
        for name in LIMITS_TASKS:
            if name in fields:
                self.task(fields, fields[name], self.limits_args)
        for name, (text_arg, path_arg) in TEXT_TASKS.items():
            if name in fields:
                args = Y.args(fields[name])
                path = Y.scalar(args.get(path_arg) or args.get("dest") or args.get("path"))
                state = Y.scalar(args.get("state")) or "present"
                if args.get(text_arg) is not None and path and state == "present":
                    self.text_into(args[text_arg], path)
        for name, shell in confrun.ANSIBLE_COMMANDS.items():
            if name in fields:
                self.command_task(fields, fields[name], shell)

    def salt(self, m) -> None:
        """Salt: NAME: {sysctl.present: [{value: V}]} (or a `name:` among the arguments)."""
        for key, value in m.value:
            if key.id == "scalar" and value.id == "mapping":
                states = {k.value: v for k, v in value.value if k.id == "scalar"}
                if "sysctl.present" in states:
                    args = Y.args(states["sysctl.present"])
                    name = Y.scalar(args.get("name")) or key.value
                    self.sysctl(name, args.get("value"), args.get("value") or key)

    def variables(self, m, fields: dict, domain: str, parent: str = "") -> None:  # noqa: C901
        """Settings kept as data for a play to write (a role's defaults, vars files):
        `- name: net.core.somaxconn` / `value: 1024` items (or `key:`), or a mapping whose every key
        is a sysctl name (`vm.swappiness: 10`); pam_limits items (`limit_item` or
        `limit_name`, `limit_type`, `value` or `limit_value`, and the `domain` given there
        or above)."""
        item = Y.scalar(fields.get("limit_item") or fields.get("limit_name"))
        typ = Y.scalar(fields.get("limit_type"))
        limit = Y.scalar(fields.get("value") or fields.get("limit_value"))
        if item and typ and limit is not None and domain and "{{" not in item + typ + limit:
            parsed = limits_conf(f"{domain} {typ} {item} {limit}", self.file)
            self.add_parsed(parsed, m.start_mark.line + 1)
            return
        line = Y.scalar(fields.get("line"))
        kind = (
            "limits"
            if "limit" in parent.lower()
            else "sysctl"
            if "sysctl" in parent.lower()
            else ""
        )
        if line and kind and "{{" not in line and set(fields) <= _LINE_ITEM_FIELDS:
            # `tuning_sysctl_vars: [{regexp: '^fs.file-max', line: 'fs.file-max = 1000000'}]`:
            # the lines a role's lineinfile loop puts into sysctl.conf or limits.conf
            if Y.scalar(fields.get("state")) != "absent":
                parse = limits_conf if kind == "limits" else sysctl_conf
                self.add_parsed(parse(line, self.file), fields["line"].start_mark.line + 1)
            return
        name = Y.scalar(fields.get("name") or fields.get("key"))  # `- { key: K, value: V }`
        value = Y.scalar(fields.get("value"))
        if name is None and len(fields) == 2 and "value" in fields:
            # `- { option: K, value: V }`, `- { param: K, value: V }`: the other field names
            # the key, where its name says it is one (not `metric:`, `label:`, `expected:`)
            field, other = next((k, v) for k, v in fields.items() if k != "value")
            name = Y.scalar(other) if _KEY_FIELD.fullmatch(field) else None
        if name and value is not None and _SYSCTL_NAME.match(name):
            self.add_sysctl(name, value, m.start_mark.line + 1)
            return
        if "sysctl" in parent.lower() and self.hiera(m):
            return  # Hiera data for a sysctl module (Goss's `kernel-param:` only checks)
        pairs = [(k, v) for k, v in m.value if k.id == "scalar" and v.id == "scalar"]
        if (
            pairs
            and len(pairs) == len(m.value)
            and all(_SYSCTL_NAME.match(k.value) for k, _ in pairs)
        ):
            for k, v in pairs:
                self.add_sysctl(k.value, v.value, k.start_mark.line + 1)
        elif (
            pairs
            and len(pairs) == len(m.value)
            and _WRITES_UNDER.search(parent)
            and not _NOT_WRITES.search(parent)
            and all(_WRITTEN.match(k.value) for k, _ in pairs)
        ):
            # a map of files to write (`sysfs: {/proc/sys/net/core/somaxconn: 4096}`, a /sys
            # attribute), under a key that says so: each a write of the value to that file
            # (a map of the same paths to metric names or modes is not one)
            from tunekit.host.shcommands import written

            for k, v in pairs:
                line = k.start_mark.line + 1
                raw = self.lines[line - 1] if line <= len(self.lines) else ""
                written(v.value, k.value, self.file, line, raw, self.out)

    def hiera(self, m) -> bool:
        """Puppet's Hiera data for a sysctl module: a mapping whose every key is a sysctl
        name and whose every value holds `value:` (`net.ipv4.ip_forward: {value: '1'}`);
        `ensure: absent` sets nothing. Whether it was one."""
        items = [(k, v) for k, v in m.value if k.id == "scalar" and v.id == "mapping"]
        if not items or len(items) != len(m.value):
            return False
        if not all(_SYSCTL_NAME.match(k.value) for k, _ in items):
            return False
        fields = [(k, Y.args(v)) for k, v in items]
        if not all("value" in args for _, args in fields):
            return False
        for k, args in fields:
            if Y.scalar(args.get("ensure")) != "absent":
                self.sysctl(k.value, args["value"], args["value"])
        return True

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
                self.sysctl(Y.scalar(k), v, v, where)
        elif node.id == "sequence":
            for item in node.value:
                if item.id == "scalar" and "=" in item.value:
                    name, _, value = item.value.partition("=")
                    self.add_sysctl(name, value, item.start_mark.line + 1, where)
                elif item.id == "mapping":
                    args = Y.args(item)
                    value = args.get("value")
                    self.sysctl(Y.scalar(args.get("name")), value, value or item, where)

    def task(self, fields: dict, args_node, handler) -> None:
        """One Ansible task, once per item of its loop."""
        loop = next((fields[k] for k in Y.LOOPS if k in fields), None)
        self.consumed.add(id(args_node))
        if loop is not None:
            self.consumed.add(id(loop))
            self.consumed.update(id(item) for item in loop.value if loop.id == "sequence")
        if loop is None:
            handler(Y.args(args_node), args_node, None)
            return
        if loop.id == "mapping":  # with_dict: item.key, item.value
            for k, v in loop.value:
                handler(Y.args(args_node), k, {"key": k, "value": v, "": k})
        elif loop.id == "sequence":
            for item in loop.value:
                given = Y.args(item) if item.id == "mapping" else {}
                handler(Y.args(args_node), item, {**given, "": item})

    def sysctl_args(self, args: dict, where, item: dict | None) -> None:
        state = Y.fill(Y.scalar(args.get("state")), item) or "present"
        if state != "present":
            return  # absent removes the key from the file; a template only the play knows
        name = Y.fill(Y.scalar(args.get("name") or args.get("key")), item)
        value_node = args.get("value") if args.get("value") is not None else args.get("val")
        value = Y.ansible_value(Y.fill(Y.scalar(value_node), item))
        if item is None and value_node is not None:
            where = value_node  # the line the user edits
        if name is not None and value is not None:
            self.add_sysctl(name, value, where.start_mark.line + 1)

    def limits_args(self, args: dict, where, item: dict | None) -> None:
        parts = [
            Y.fill(Y.scalar(args.get(k)), item)
            for k in ("domain", "limit_type", "limit_item", "value")
        ]
        words = [p for p in parts if p is not None]
        if len(words) == 4:
            self.add_parsed(limits_conf(" ".join(words), self.file), where.start_mark.line + 1)

    def text_into(self, node, path: str, jinja: bool = True) -> None:
        """lineinfile's line, blockinfile's block, copy's content: lines of the file they
        go into, when that is a sysctl, limits or modprobe.d file."""
        from tunekit.host.shcommands import format_of

        fmt = format_of(path)
        if fmt is not None:
            self.text_as(node, fmt, jinja)

    def text_as(self, node, fmt: str, jinja: bool = True) -> None:
        """A scalar's text read as a file of that format, at its lines in this file."""
        if node.id != "scalar":
            return
        # a literal block (|) keeps its lines, one per line of the file after the |; any
        # other scalar (folded, quoted with \n escapes) is reported on the line it starts
        literal = node.style == "|"
        first = node.start_mark.line + 1 + literal
        text = Y.rendered(str(node.value), fmt) if jinja else str(node.value)
        parsed = confparse.parse(text, self.file, fmt)
        items: list[Setting | Problem] = [*parsed.settings, *parsed.problems]
        for item in items:
            item.line = first + item.line - 1 if literal else first
            self._text(item)
        self.out.settings += parsed.settings
        self.out.problems += parsed.problems

    def sysctl(self, name: str | None, value_node, where, runtime: tuple = ("", {})) -> None:
        value = Y.scalar(value_node)
        if name and value is not None:
            self.add_sysctl(name, value, where.start_mark.line + 1, runtime)

    def add_sysctl(self, name: str, value: str, line: int, runtime: tuple = ("", {})) -> None:
        """One sysctl; `runtime` (container, host namespaces): set by a container runtime in
        that container (context "runtime"; "runtime-hostnet" / "runtime-hostipc" for a key
        of a namespace the container shares with the host)."""
        if "{{" in name or "{{" in value or "%{" in name + value or "\n" in name + value:
            return  # a template (Jinja's {{ }}, Hiera's %{ }) only the run knows
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
