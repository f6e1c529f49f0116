"""What lint reads: the files that apply at the next boot under a root, or the files named
on the command line, each with its format recognised (by its name where the name says, else
by its lines)."""

from __future__ import annotations

import re
from pathlib import Path

from tunekit.errors import UsageError
from tunekit.host import confparse
from tunekit.knowledge import catalogue as K

_TEMPLATE = re.compile(r"\{\{|\{%|\{#|<%|\$\{")
_TEMPLATE_IN_SHELL = re.compile(r"\{\{|\{%|\{#|<%")  # ${x} is the shell's own


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
    named = re.sub(r"\.(j2|jinja2?|m4|tmpl|tpl|erb|in)$", "", shown)
    if named != shown and not named.endswith((".yml", ".yaml")):
        # a template's lines with an expression or a control tag (Jinja's {{ }} {% %},
        # ERB's <% %>, ${...}) are the rendering's to know: left out, each line kept in
        # its place (YAML has its own reading of templates)
        marks = _TEMPLATE if not named.endswith((".sh", ".bash")) else _TEMPLATE_IN_SHELL
        text = "\n".join("" if marks.search(ln) else ln for ln in text.split("\n"))
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
            "manifests (*.pp) and TuneD profiles",
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
    if Path(named).name == "tuned.conf":
        return "tuned"  # a TuneD profile
    if named.endswith((".service", ".socket")) or ".service.d/" in named:
        return "system.conf"  # a unit, or a drop-in of one
    if Path(named).name.startswith(("Dockerfile", "Containerfile")) or named.lower().endswith(
        ("dockerfile", "containerfile")
    ):  # Dockerfile, Dockerfile.dev, app.dockerfile, prod-Dockerfile
        return "dockerfile"
    return None
