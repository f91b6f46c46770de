"""Detection in a process of its own, one per detection thread (`edge.detection_in: processes`).

Why: the detector is NumPy and OpenCV, but between those calls it is Python (a dozen tracks and their rules
a frame), and that part holds the GIL. With dozens of cameras in one process, the detection threads and the
capture threads queue for the one GIL: measured in bench/edge.py, 64 cameras of 384x288 used 1.1 of 2 cores
while 90 % of their frames were dropped. A process per core has its own GIL: each worker owns whole cameras'
detectors, exactly as a detection thread does, and the thread becomes its messenger (a frame goes over a
pipe, the frame's alerts and tracks come back). Capture, evidence, the outbox and MQTT stay in the worker.

A detection process that dies (killed, out of memory, a crash in native code) or stops answering for
`edge.detection_stall_s` (stopped, deadlocked) is killed and started again; its cameras' detectors start
afresh (they learn the background again, as after a restart), and the frame is lost. Counted and logged,
never silent: `DetectorLost` tells the caller.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass

import numpy as np

from quaywatch.config import Site
from quaywatch.detector.types import FrameResult
from quaywatch.edge.pipeline import Alert, CameraPipeline
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)


class DetectorLost(QuaywatchError):
    """The detection process died or stalled; it was started again, and its cameras' detectors with it."""


@dataclass(frozen=True, slots=True)
class Answer:
    alerts: list[Alert]
    result: FrameResult
    cpu_s: float  # the detection process's CPU time on this frame


def _serve(conn, site: Site) -> None:
    """The detection process: camera id -> its pipeline; one frame in, one answer out, until None."""
    import cv2

    cv2.setNumThreads(1)  # the processes are the parallelism
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, and the worker stops us
    pipelines: dict[str, CameraPipeline] = {}
    conn.send(("ready", None, None, 0.0))  # imports done: the worker may start its cameras
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the worker went away
        if msg is None:
            return
        camera_id, fps, t, frame = msg
        c0 = time.thread_time()
        try:
            pipeline = pipelines.get(camera_id)
            if pipeline is None:
                pipeline = pipelines[camera_id] = CameraPipeline(site, site.camera(camera_id), fps)
            alerts = pipeline.process(t, frame)
            reply = ("ok", alerts, pipeline.last, time.thread_time() - c0)
        except QuaywatchError as exc:  # e.g. the stream changed resolution: that camera starts afresh
            pipelines.pop(camera_id, None)
            reply = ("restart", str(exc), None, time.thread_time() - c0)
        except Exception:
            reply = ("error", traceback.format_exc(limit=8), None, time.thread_time() - c0)
        conn.send(reply)


class DetectorProcess:
    """The parent's end: `process()` sends a frame and waits for its answer (the wait releases the GIL)."""

    def __init__(self, site: Site, index: int, stall_s: float):
        self.site = site
        self.index = index
        self.stall_s = stall_s
        self.restarts = 0
        self._ctx = mp.get_context("spawn")  # never fork a process full of threads
        self._proc = None
        self._conn = None

    def start(self) -> DetectorProcess:
        parent, child = self._ctx.Pipe(duplex=True)
        self._proc = self._ctx.Process(target=_serve, args=(child, self.site), name=f"quaywatch-detect-{self.index}",
                                       daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the process has imported the detector (a second or two): frames sent before would wait."""
        if not self._conn.poll(timeout):
            raise DetectorLost(f"detection process {self.index} did not start within {timeout:g} s")
        self._conn.recv()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def process(self, camera_id: str, fps: float, t: float, frame: np.ndarray) -> Answer:
        """Raises DetectorLost (process restarted), QuaywatchError (this camera's detector restarted) or
        RuntimeError (the detector failed on this frame, its traceback in the message)."""
        try:
            self._conn.send((camera_id, fps, t, frame))
            if not self._conn.poll(self.stall_s):
                raise TimeoutError(f"no answer in {self.stall_s:g} s")
            status, value, result, cpu_s = self._conn.recv()
        except (EOFError, OSError, TimeoutError) as exc:
            why = self._why(exc)
            self._restart()
            raise DetectorLost(f"detection process {self.index} {why}; restarted, its cameras' detectors "
                               "start afresh") from None
        if status == "ok":
            return Answer(value, result, cpu_s)
        if status == "restart":
            raise QuaywatchError(value)
        raise RuntimeError(value)

    def cpu_s(self) -> float:
        """CPU time the current detection process has used (user + system), from /proc."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, TypeError):
            return 0.0

    def peak_rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, TypeError):
            pass
        return 0.0

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        if self._proc is not None:
            self._proc.join(2)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2)
        if self._conn is not None:
            self._conn.close()

    def _why(self, exc: Exception) -> str:
        if isinstance(exc, TimeoutError):
            return f"gave {exc}"
        self._proc.join(0.5)
        code = self._proc.exitcode
        return f"died (exit code {code})" if code is not None else f"lost its pipe ({exc.__class__.__name__})"

    def _restart(self) -> None:
        self.restarts += 1
        log.error("detection process %d (pid %s) lost: starting it again", self.index, self.pid)
        with contextlib.suppress(OSError, AttributeError):
            self._proc.kill()
        self._proc.join(2)
        self._conn.close()
        self.start().wait_ready()
