"""The supervisor behind `quaywatch run` and `quaywatch demo` restarts a part that dies (kill -9), after a
backoff that doubles and stays bounded, and stops everything it started."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading
import time

from quaywatch.supervisor import Part, Supervisor
from tests.peers import wait_until

SLEEPER = "import time; print('up', flush=True); time.sleep(600)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_part_killed_is_restarted_with_a_bounded_backoff(tmp_path):
    out = io.StringIO()
    sup = Supervisor(tmp_path / "logs", out=out, max_backoff_s=2.0)
    part = Part("sleeper", [sys.executable, "-c", SLEEPER])
    sup.start(part)
    watcher = threading.Thread(target=sup.watch, kwargs={"poll_s": 0.1}, daemon=True)
    watcher.start()
    pids = [part.process.pid]
    try:
        for expected_delay in (1.0, 2.0, 2.0):  # 1, 2, then capped at max_backoff_s (4 without the cap)
            os.kill(pids[-1], signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: part.process.pid != pids[-1] and part.process.poll() is None, 20 + expected_delay,
                       f"the killed part restarted (output so far:\n{out.getvalue()})")
            waited = time.monotonic() - killed
            pids.append(part.process.pid)
            assert alive(pids[-1])
            assert waited >= expected_delay - 0.2, (waited, out.getvalue())  # the backoff is waited out
        said = [float(d) for d in re.findall(r"restarting in ([\d.]+) s", out.getvalue())]
        assert said == [1.0, 2.0, 2.0], out.getvalue()  # announced once per death, bounded by the cap
        assert part.restarts == 3
        assert not any(alive(p) for p in pids[:-1])
    finally:
        sup.stop()
        watcher.join(5)
    assert not alive(pids[-1])
