"""tunekit status from the command line: the document, bad input, a --root tree, and
--watch under a real terminal (a pty) ended by Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import termios
import time

from helpers import REPO, invoke, sysctl_files, write_tree

from tunekit.knowledge import catalogue as K
from tunekit.output.documents.status import Status
from tunekit.output.status import ENTER, HOME, LEAVE


def test_json_is_the_status_document():
    res = invoke("status", "--json", "--no-kernel-log")
    assert res.exit_code == 0, res.output
    doc = Status.model_validate_json(res.output)
    assert {r.key for r in doc.rows} >= {K.FILE_MAX.name, K.TW_BUCKETS.name}
    assert doc.worst in ("ok", "near", "at-limit", "hit")


def test_root_tree_reads_the_files_and_says_what_it_did_not(tmp_path):
    files = sysctl_files({K.FILE_MAX.name: "1000", K.TW_BUCKETS.name: "100"})
    files |= {
        "proc/sys/fs/file-nr": "900\t0\t1000\n",
        "proc/net/sockstat": "sockets: used 5\nTCP: inuse 3 orphan 0 tw 85 alloc 4 mem 1\n",
        "proc/net/netstat": "TcpExt: ListenOverflows TCPTimeWaitOverflow\nTcpExt: 0 7\n",
    }
    write_tree(tmp_path, files)
    res = invoke("status", "--root", tmp_path, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    rows = {r["key"]: r for r in doc["rows"]}
    assert rows[K.FILE_MAX.name]["used"] == 900 and rows[K.FILE_MAX.name]["verdict"] == "near"
    assert rows[K.FILE_MAX.name]["fix"] == f"sysctl -w {K.FILE_MAX.name}=1800"
    # TCPTimeWaitOverflow is 7 since boot: the first reading's baseline is boot
    assert rows[K.TW_BUCKETS.name]["verdict"] == "hit"
    assert rows[K.TW_BUCKETS.name]["symptoms"] == {"TCPTimeWaitOverflow": 7}
    assert any("not read under --root" in n for n in doc["notes"])
    text = invoke("status", "--root", tmp_path)
    assert text.exit_code == 0 and "NEAR" in text.output and "sysctl -w" in text.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for args, words in (
        (["--top", "0"], "--top"),
        (["--conns", "1M"], "PROFILE"),
        (["--watch", "0"], "--watch"),
        (["--prometheus", tmp_path / "metrics.txt"], ".prom"),
        (["--prometheus", tmp_path / "missing/dir/t.prom"], "no directory"),
        (["--root", tmp_path, "--prometheus", "/tmp/t.prom"], "not inside --root"),
    ):
        before = signal.getsignal(signal.SIGTERM)
        res = invoke("status", *args)
        assert res.exit_code == 2, (args, res.output)
        assert words in res.output and "Traceback" not in res.output
        # a refused --watch once left its SIGTERM handler in this process, and children
        # forked later (pyroute2's, the probe's) ran on into pytest when terminated
        assert signal.getsignal(signal.SIGTERM) == before, args


def _read(fd: int, until, timeout: float = 30.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(out):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def test_watch_on_a_terminal_redraws_and_ctrl_c_restores_it():
    """A real pty: the child is a session leader with the pty as its controlling terminal,
    so writing ^C to the master makes the line discipline send SIGINT, as a keyboard does."""
    pid, master = pty.fork()
    if pid == 0:  # the child
        os.chdir(REPO)
        os.execv(
            sys.executable,
            [sys.executable, "-m", "tunekit", "status", "--watch", "0.3", "--no-kernel-log"],
        )
    try:
        before = termios.tcgetattr(master)
        out = _read(master, lambda b: b.count(HOME.encode()) >= 2)
        assert out.startswith(ENTER.encode()), out[:80]
        assert out.count(HOME.encode()) >= 2, out[-400:]
        os.write(master, b"\x03")
        out += _read(master, lambda b: False, timeout=15)
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        after = termios.tcgetattr(master)
        os.close(master)
    text = out.decode("utf-8", "replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text[-500:]
    assert "Traceback" not in text and "interrupted" not in text
    # the alternate screen was left and the cursor shown again, after the last frame,
    # and the last reading printed on the user's own screen
    assert text.rfind(LEAVE) > text.rfind(HOME) > text.rfind(ENTER)
    assert "tunekit status:" in text[text.rfind(LEAVE) :]
    assert before == after  # the terminal's modes were never changed


def test_watch_to_a_pipe_prints_plain_blocks():
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "tunekit", "status", "--watch", "0.3", "--no-kernel-log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert b"\x1b[" not in out and out.count(b"tunekit status:") >= 2
    assert b"Traceback" not in err
