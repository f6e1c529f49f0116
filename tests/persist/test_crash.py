"""kill -9 at every write step of an apply (and of a rollback): the next rollback restores
the tree exactly, every time (issue 10, item 6).

A forked child runs apply with TUNEKIT_CRASH_AT=k, which makes tunekit SIGKILL itself at
its k-th write step (journal writes, mkdir, temp file, rename, unlink, each kernel write).
The battery goes on until a child finishes without being killed: by then every step has
been a kill point."""

import os
import shutil
import signal

import pytest
from helpers import MEMINFO, TUNED, invoke, sysctl_files, write_tree
from test_safety import snapshot

from tunekit.persist import executor as applier

LOWERED = {
    **TUNED,
    "net.core.somaxconn": "128",
    "fs.nr_open": "1000000",
    "net.ipv4.tcp_max_orphans": "4096",
}
STATE = "var/lib/tunekit"


def tree(root):
    return {
        k: v
        for k, v in snapshot(root).items()
        if not (k == STATE or k.startswith(STATE + "/") or k in ("var", "var/lib"))
    }


def killed_at(k: int, *args: str) -> bool:
    """Run tunekit ARGS in a forked child that dies at write step k; True if it was killed."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.environ[applier.CRASH_ENV] = str(k)
            applier._steps = 0
            invoke(*args)
        except BaseException:  # noqa: BLE001 - the child must never return into pytest
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0
    return False


@pytest.fixture
def base(tmp_path, isolated_home, monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR")  # the state lives inside the root
    # values as tunekit writes them back (the kernel itself prints tcp_mem with tabs, and
    # reformats whatever is written; a plain file keeps what it is given)
    files = sysctl_files({k: " ".join(v.split()) for k, v in LOWERED.items()})
    files["proc/meminfo"] = MEMINFO
    files["etc/sysctl.d/99-sysctl.conf"] = "net.core.somaxconn = 1024\n"
    files["etc/security/limits.d/90-tunekit.conf"] = "# an older file\r\n"
    root = write_tree(tmp_path / "base", files)
    os.chmod(root / "etc/security/limits.d/90-tunekit.conf", 0o600)
    return root


def fresh(base, tmp_path, k):
    root = tmp_path / f"run{k}"
    shutil.copytree(base, root, symlinks=True)
    return root


def test_kill_at_every_step_of_an_apply_then_rollback_restores_exactly(base, tmp_path):
    original = tree(base)
    points = 0
    for k in range(1, 500):
        root = fresh(base, tmp_path, k)
        if not killed_at(k, "apply", "server-1M", "--root", str(root)):
            break
        points += 1
        r = invoke("rollback", "--root", str(root))
        assert r.exit_code == 0, (k, r.output)
        assert tree(root) == original, f"killed at step {k}: not restored"
        shutil.rmtree(root)
    assert points >= 20  # journal, each kernel write, each directory and file


def applied(base, tmp_path, k):
    """A fresh copy with server-1M applied to it (a journal names its own root)."""
    root = fresh(base, tmp_path, k)
    assert invoke("apply", "server-1M", "--root", str(root)).exit_code == 0
    return root


def test_kill_during_a_second_apply_keeps_the_first_undoable(base, tmp_path):
    original = tree(base)
    points = 0
    for k in range(1, 500):
        root = applied(base, tmp_path, k)
        after_first = tree(root)
        if not killed_at(k, "apply", "server-1M", "--conns", "2M", "--root", str(root)):
            break
        points += 1
        # The next rollback undoes the interrupted apply (and, if it had not finished, the
        # first apply too): it lands on the first apply's state or on the original; the
        # one after that, if needed, on the original. Never "Nothing to undo" too early.
        r = invoke("rollback", "--root", str(root))
        assert r.exit_code == 0, (k, r.output)
        assert tree(root) in (after_first, original), f"killed at step {k}: a mixed state"
        if tree(root) == after_first:
            assert "Recovered" not in r.stdout  # it had finished: only it is undone
            assert invoke("rollback", "--root", str(root)).exit_code == 0
        assert tree(root) == original, f"killed at step {k}: first apply not undone"
        assert "Nothing to undo" in invoke("rollback", "--root", str(root)).stdout
        shutil.rmtree(root)
    assert points >= 10  # the files exist by now: fewer steps than a first apply


def test_kill_during_a_rollback_then_rollback_again_restores_exactly(base, tmp_path):
    original = tree(base)
    points = 0
    for k in range(1, 500):
        root = applied(base, tmp_path, k)
        if not killed_at(k, "rollback", "--root", str(root)):
            break
        points += 1
        r = invoke("rollback", "--root", str(root))
        assert r.exit_code == 0, (k, r.output)
        assert tree(root) == original, f"rollback killed at step {k}"
        shutil.rmtree(root)
    assert points >= 5


def test_an_interrupted_apply_is_finished_by_the_next_apply(base, tmp_path):
    clean = fresh(base, tmp_path, "clean")
    assert invoke("apply", "server-1M", "--root", str(clean)).exit_code == 0
    root = fresh(base, tmp_path, "crashed")
    assert killed_at(12, "apply", "server-1M", "--root", str(root))
    r = invoke("apply", "server-1M", "--root", str(root))
    assert r.exit_code == 0 and "Recovered: undid an apply of server-1M" in r.stdout
    assert tree(root) == tree(clean)
