"""`quaywatch demo` runs the whole system on embedded defaults: a simulated fall is paged within a
minute or two of starting, and Ctrl-C leaves no process behind."""

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.camsim_peer import require_gst_rtsp


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_pages_a_fall_and_stops_cleanly(tmp_path):
    require_gst_rtsp()
    proc = subprocess.Popen(
        [sys.executable, "-m", "quaywatch", "demo", "--dir", str(tmp_path / "demo"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    pids: list[int] = []
    started = time.monotonic()
    paged_after = None
    try:
        deadline = started + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if m := re.search(r"ready after [\d.]+ s \(pid (\d+)\)", line):
                pids.append(int(m.group(1)))
            if "DRY-RUN SMS" in line and "DRUKNEALARM" in line:
                paged_after = time.monotonic() - started
                break
        output = "".join(lines)
        assert paged_after is not None, f"no page within 180 s:\n{output[-4000:]}"
        print(f"demo: first SMS page {paged_after:.1f} s after `quaywatch demo` started")
        assert "control room:  http://127.0.0.1:" in output and "login:         demo / " in output
        assert len(pids) >= 5, output  # broker, two cameras, alerting, edge
        link = re.search(r"http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]+", lines[-1])  # the SMS's evidence link
        assert link, lines[-1]
        phone = httpx.get(link.group(0), timeout=20)  # opens without a login
        assert phone.status_code == 200 and "i vandet" in phone.text, phone.text[:500]
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the foreground process
        proc.wait(30)
        assert proc.returncode == 0
        time.sleep(0.5)
        assert [p for p in pids if alive(p)] == []
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for p in pids:
            if alive(p):
                os.killpg(p, signal.SIGKILL)
