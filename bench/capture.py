"""Camera-side cost: many RTSP cameras read by CameraCapture in one process (network receive + H.264 decode
+ grey conversion + frozen-picture check), no detection. Complements bench/edge.py, which decodes files.

    .venv/bin/python bench/capture.py [--seconds S]

One `quaywatch camera-sim` per camera kind serves a moving test pattern on 127.0.0.1; N captures in this
process read it (a shared encoder, N RTSP sessions), as N cameras would. The camera-sim's own CPU (encoding)
is not counted: only this process's, which is what an edge worker spends per camera.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

from quaywatch.config import Camera
from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.capture import CameraCapture

KINDS = [("384x288 @ 9 fps", "384x288", 9.0, 24), ("640x512 @ 30 fps", "640x512", 30.0, 4)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"camera-sim did not listen on {port}")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(label: str, size: str, fps: float, cameras: int, seconds: float) -> None:
    rtsp, onvif = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "QUAYWATCH_CAMERA_PASSWORD"}
    sim = subprocess.Popen([sys.executable, "-m", "quaywatch", "camera-sim", "--size", size, "--fps", str(fps),
                            "--port", str(rtsp), "--onvif-port", str(onvif)], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(onvif)
        w, h = (int(v) for v in size.split("x"))
        counts = [0] * cameras
        lock = threading.Lock()

        def counter(i):
            def on_frame(_f):
                with lock:
                    counts[i] += 1
            return on_frame

        config = CaptureConfig(open_timeout_s=10, read_timeout_s=5)
        caps = []
        for i in range(cameras):
            cam = Camera(id=f"cam-{i}", name=f"cam {i}", source=f"rtsp://127.0.0.1:{rtsp}/stream",
                         water=[[0, h // 2], [w, h // 2], [w, h]], quay_line=[[0, h // 2], [w, h // 2]])
            caps.append(CameraCapture(cam, config, counter(i), lambda _h: None).start())
        time.sleep(4)  # every session open and streaming
        c0, f0, t0 = cpu_s(), sum(counts), time.monotonic()
        time.sleep(seconds)
        c1, f1, t1 = cpu_s(), sum(counts), time.monotonic()
        for cap in caps:
            cap.stop(0.2)
        wall = t1 - t0
        frames = f1 - f0
        expected = cameras * fps * wall
        cpu_per_cam = (c1 - c0) / wall / cameras
        decode_ms = sum(c.stats().decode_ms for c in caps) / cameras
        print(f"{label}: {cameras} RTSP cameras in one process for {wall:.1f} s")
        print(f"  frames delivered {frames} of {expected:.0f} expected ({100 * frames / expected:.1f} %)")
        print(f"  CPU per camera {100 * cpu_per_cam:.1f} % of a core; decode {decode_ms:.2f} ms/frame")
        print(f"  => about {1 / cpu_per_cam:.0f} cameras per core for capture alone (no detection)")
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (shared: compare within a run)")
    for label, size, fps, cameras in KINDS:
        run(label, size, fps, cameras, args.seconds)


if __name__ == "__main__":
    main()
