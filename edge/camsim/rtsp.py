"""The RTSP half of the simulated camera: a child `/usr/bin/python3 rtsp_server.py` fed raw frames on a pipe.

GStreamer's Python bindings (`gi`) come from Debian's python3-gi and import only under the system
interpreter, not in the project's venv; the child needs nothing else. It is started in our process
group, so a test that kills or freezes the camera-sim group takes the RTSP server with it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from quaywatch.errors import QuaywatchError

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
GST_PYTHON = os.environ.get("QUAYWATCH_GST_PYTHON", "/usr/bin/python3")
APT_HINT = "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly"


class RtspServerProcess:
    def __init__(self, host: str, port: int, width: int, height: int, fps: float, *, path: str = "/stream",
                 user: str = "", password: str = ""):
        self.host, self.port, self.path = host, port, path
        self.width, self.height, self.fps = width, height, fps
        self.user, self.password = user, password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}{self.path}"

    def start(self, timeout: float = 15.0) -> RtspServerProcess:
        if not os.access(GST_PYTHON, os.X_OK):
            raise QuaywatchError(f"the RTSP server needs {GST_PYTHON} with GStreamer's bindings ({APT_HINT})")
        argv = [GST_PYTHON, str(SERVER_SCRIPT), "--host", self.host, "--port", str(self.port), "--path", self.path,
                "--width", str(self.width), "--height", str(self.height), "--fps", repr(self.fps)]
        if self.user:
            argv += ["--user", self.user]
        env = {**os.environ, "QUAYWATCH_CAMSIM_PASSWORD": self.password}
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace").strip() if self.proc.stdout else ""
                hint = f" ({APT_HINT})" if "gi" in out and "Error" in out else ""
                raise QuaywatchError(f"the RTSP server exited at start: {out[-500:]}{hint}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise QuaywatchError(f"the RTSP server did not listen on {self.host}:{self.port} within {timeout:g} s")

    def write(self, frame: np.ndarray) -> None:
        """Hand one grey frame to the encoder; blocks only if the server is frozen (then so are we)."""
        if self.proc is None or self.proc.stdin is None:
            raise QuaywatchError("the RTSP server is not running")
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise QuaywatchError(f"the RTSP server stopped (exit code {self.proc.poll()})") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(3)
        self.proc = None
