"""What lint reads: the files that apply at the next boot under a root, or the files named
on the command line, each with its format recognised (by its name where the name says, else
by its lines)."""

from __future__ import annotations

import re
from pathlib import Path

from tunekit.errors import UsageError
from tunekit.host import confparse
from tunekit.knowledge import catalogue as K

_TEMPLATE_SUFFIX = re.compile(r"\.(j2|jinja2?|m4|tmpl|tpl|erb|epp|in)$")
# a template's blocks that render to nothing: Jinja's {# #} and {% %}, ERB's <% %> and
# <%# %> (not <%= %>), over several lines too; and what renders to text only the
# rendering knows: {{ }}, <%= %>, ${} (not in a shell script, where it is the shell's own)
_BLOCKS = {"{#": "#}", "{%": "%}", "<%": "%>"}
_VALUES = {"{{": "}}", "<%=": "%>", "${": "}"}
_OPENERS = re.compile(r"\{#|\{%|<%=|<%|\{\{|\$\{")
_AUTOCONF = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*@")  # autoconf's @VAR@ (*.in)


def _replace_spans(text: str, closers: dict[str, str], make) -> str:
    """Each span from an opener in `closers` to its closer replaced by make(span); one
    pass (an opener left unclosed ends it: the rest is kept as it is)."""
    out: list[str] = []
    pos = 0
    while (m := _OPENERS.search(text, pos)) is not None:
        if m[0] not in closers:
            out.append(text[pos : m.end()])
            pos = m.end()
            continue
        end = text.find(closers[m[0]], m.end())
        if end < 0:
            break
        end += len(closers[m[0]])
        out.append(text[pos : m.start()] + make(text[m.start() : end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def template_target(name: str) -> str:
    """What a template renders to, by its name (`sysctl.conf.j2` -> `sysctl.conf`)."""
    return _TEMPLATE_SUFFIX.sub("", name)


def unrendered(text: str, shell: bool) -> str:
    """A template's text as far as it is known without rendering it, each line in its
    place: a block that renders to nothing is blanked (its newlines kept); in a script an
    expression becomes a variable only the run knows (its command is not judged, and the
    script's quotes and continuations stay whole), elsewhere the line holding one is
    left out."""
    text = _replace_spans(text, _BLOCKS, lambda span: "\n" * span.count("\n"))
    values = {k: v for k, v in _VALUES.items() if not (shell and k == "${")}
    mark = "${__tunekit_template__}" if shell else "\x00"
    text = _replace_spans(text, values, lambda span: mark + "\n" * span.count("\n"))
    text = _AUTOCONF.sub(mark, text)
    if shell:
        return text
    return "\n".join("" if "\x00" in ln else ln for ln in text.split("\n"))


def boot_inputs(root: Path) -> tuple[list[tuple[str, str, str]], set[str], list[str]]:
    """What applies at the next boot under `root`: (inputs, modules loaded at boot, errors)."""
    from tunekit.host import bootset

    found = bootset.collect(root)
    inputs = [("/" + f.path, f.text, f.format) for f in found.files]
    return inputs, found.modules_at_boot, found.unreadable


def keys_set(inputs: list[tuple[str, str, str]]) -> set[str]:
    """The sysctls that (path, text, format) inputs assign."""
    out = set()
    for path, text, fmt in inputs:
        for s in confparse.parse(text, path, fmt).settings:
            if s.kind == "sysctl":
                out.add(K.canonical(s.key))
    return out


def read_input(name: str, stdin_text: str | None = None) -> tuple[str, str, str]:
    """A file named on the command line (or '-' for standard input), its format recognised."""
    from tunekit.host.procfs import read_text

    if name == "-":
        text, shown = stdin_text or "", "<stdin>"
    else:
        try:
            text = read_text(Path(name), strict=True)
        except FileNotFoundError:
            raise UsageError(f"{name}: no such file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not a text file (not UTF-8)") from None
        except OSError as err:
            raise UsageError(f"{name}: cannot read: {err.strerror or err}") from None
        shown = name
    named = template_target(shown)
    if named != shown and not named.endswith((".yml", ".yaml")):
        text = unrendered(text, named.endswith((".sh", ".bash")))  # YAML reads its own
    fmt = format_by_name(named) or confparse.detect(text)
    if fmt is None and all(not ln.strip() or ln.lstrip()[0] in "#;" for ln in text.splitlines()):
        fmt = "sysctl.conf"  # only comments (Debian's stock sysctl.conf) or empty: nothing set
    if fmt is None:
        raise UsageError(
            f"{shown}: not a format tunekit lint knows",
            "it reads sysctl.conf / sysctl.d files, `sysctl -a` output, limits.conf, "
            "shell scripts with sysctl -w / ulimit -n lines, systemd system.conf, "
            "modprobe.d files, YAML (compose/Kubernetes sysctls, Ansible, Salt, "
            "cloud-init), Dockerfiles, NixOS modules (*.nix), Chef cookbooks (*.rb), Puppet "
            "manifests (*.pp), TuneD profiles, Markdown guides' code blocks (*.md) and "
            "Terraform (*.tf)",
        )
    return shown, text, fmt


def format_by_name(named: str) -> str | None:
    """The format a file's name says (a template, `sysctl.yaml.j2` or `app.service.tpl`,
    named by what it renders to); a name that says shell (editors decide so too) wins
    over the look of the lines."""
    if named.endswith((".sh", ".bash")):
        return "script"
    if named.endswith((".yml", ".yaml")):
        return "yaml"
    if named.endswith(".nix"):
        return "nix"  # a NixOS module: boot.kernel.sysctl, loginLimits
    if named.endswith(".rb"):
        return "chef"  # a Chef cookbook's attributes or recipe: sysctl attributes, resources
    if named.endswith(".pp"):
        return "puppet"  # a Puppet manifest: sysctl resources
    if named.lower().endswith((".md", ".markdown")):
        return "markdown"  # a guide: its code blocks, each read as what it holds
    if named.endswith((".tf", ".tfvars", ".hcl")):
        return "hcl"  # Terraform: sysctl strings, maps and heredocs
    if Path(named).name == "tuned.conf":
        return "tuned"  # a TuneD profile
    if named.endswith((".service", ".socket")) or ".service.d/" in named:
        return "system.conf"  # a unit, or a drop-in of one
    if Path(named).name.startswith(("Dockerfile", "Containerfile")) or named.lower().endswith(
        ("dockerfile", "containerfile")
    ):  # Dockerfile, Dockerfile.dev, app.dockerfile, prod-Dockerfile
        return "dockerfile"
    return None
