"""The simulated ONVIF/RTSP camera as a real peer: `quaywatch camera-sim` in its own process group on
127.0.0.1 and free ports, so a test can kill it (SIGKILL), freeze it (SIGSTOP) and restart it on the same
ports, exactly as a camera that reboots or hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from quaywatch.edge.clips import ClipWriter
from tests.peers import Process, free_port, missing, require, wait_for_port

GST_CHECK = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert Gst.ElementFactory.find('x264enc'), 'x264enc'")
_gst_ok: bool | None = None


def require_gst_rtsp() -> None:
    global _gst_ok
    python = require("/usr/bin/python3", "Debian's python3 with python3-gi")
    if _gst_ok is None:
        _gst_ok = subprocess.run([python, "-c", GST_CHECK], capture_output=True).returncode == 0
    if not _gst_ok:
        missing("GStreamer RTSP server for /usr/bin/python3 is not installed "
                "(apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly)")


def write_clip(path: Path, frames: int = 27, width: int = 160, height: int = 120, fps: float = 9.0) -> list[float]:
    """A small 8-bit clip whose brightness ramps frame by frame (plus sensor-like noise); returns the means."""
    rng = np.random.default_rng(7)
    means = []
    with ClipWriter(path, fps, width, height) as w:
        for i in range(frames):
            level = 40 + 6 * i
            frame = np.clip(rng.normal(level, 3, (height, width)), 0, 255).astype(np.uint8)
            means.append(float(frame.mean()))
            w.write(frame)
    return means


class CameraSim:
    USER = "admin"

    def __init__(self, workdir: Path, *, clip: Path | None = None, scene: str | None = None, password: str = "quay-test-pw",
                 size: str = "160x120", fps: float = 9.0, clock_offset: float = 0.0, discovery: bool = False):
        require_gst_rtsp()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.rtsp_port = free_port()
        self.onvif_port = free_port()
        self.discovery_port = free_port() if discovery else 0
        self.argv = [sys.executable, "-m", "quaywatch", "camera-sim", "--port", str(self.rtsp_port),
                     "--onvif-port", str(self.onvif_port), "--discovery-port", str(self.discovery_port),
                     "--user", self.USER, "--password-env", "CAMSIM_TEST_PASSWORD", "--fps", str(fps),
                     "--clock-offset", str(clock_offset)]
        self.argv += ["--clip", str(clip)] if clip else ["--scene", scene] if scene else ["--size", size]
        self.process: Process | None = None
        self.starts = 0

    @property
    def rtsp_url(self) -> str:  # no password: that comes from the environment, as in a site config
        return f"rtsp://{self.USER}@127.0.0.1:{self.rtsp_port}/stream"

    @property
    def onvif_url(self) -> str:
        return f"onvif://{self.USER}@127.0.0.1:{self.onvif_port}"

    def start(self) -> CameraSim:
        self.starts += 1
        self.process = Process(self.argv, self.dir / f"camera-sim-{self.starts}.log",
                               env={"CAMSIM_TEST_PASSWORD": self.password})
        try:
            wait_for_port(self.rtsp_port, timeout=20)
            wait_for_port(self.onvif_port, timeout=10)
        except TimeoutError:
            out = self.process.output()
            self.stop()
            raise AssertionError(f"camera-sim did not start:\n{out}") from None
        return self

    def kill(self) -> None:
        """Pull the plug: SIGKILL the whole group (RTSP child included), no goodbye on any socket."""
        assert self.process is not None
        self.process.signal(signal.SIGKILL)
        self.process.proc.wait(5)
        self.process.stop()
        self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def output(self) -> str:
        return self.process.output() if self.process else ""
