"""`quaywatch camera-sim`: one simulated thermal camera = RTSP stream + ONVIF services + WS-Discovery answers.

The frames (clip, live scene or test pattern) are paced here at the stream's fps and piped to the RTSP
child; the latest one also serves as the JPEG snapshot. SIGTERM or Ctrl-C stops everything, child included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np
from aiohttp import web

from quaywatch.edge.camsim.discovery import DiscoveryResponder, serve_discovery
from quaywatch.edge.camsim.frames import FrameProducer
from quaywatch.edge.camsim.onvif_service import DEVICE_PATH, DeviceModel, Profile, build_app
from quaywatch.edge.camsim.rtsp import RtspServerProcess
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)


@dataclass
class CamSimOptions:
    host: str = "127.0.0.1"
    rtsp_port: int = 8554
    onvif_port: int = 8000
    discovery_port: int = 0  # 0: no WS-Discovery answers
    user: str = "admin"
    password: str = ""  # empty: ONVIF and RTSP accept anyone
    clock_offset_s: float = 0.0
    name: str = "camera-sim"
    advertise: str = ""  # host put in the URLs the camera hands out; default --host (127.0.0.1 if a wildcard)

    @property
    def public_host(self) -> str:
        return self.advertise or (self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1")


class Feeder(threading.Thread):
    """Paces the producer's frames into the RTSP server; keeps the latest for snapshots."""

    def __init__(self, producer: FrameProducer, rtsp: RtspServerProcess, failed: threading.Event):
        super().__init__(name="camsim-feeder", daemon=True)
        self.producer = producer
        self.rtsp = rtsp
        self.failed = failed
        self.latest: np.ndarray | None = None
        self.sent = 0
        self.error: str | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        period = 1.0 / self.producer.fps
        due = time.monotonic()
        try:
            for frame in self.producer.frames:
                if self._stop.is_set():
                    return
                self.latest = frame
                self.rtsp.write(frame)
                self.sent += 1
                if self.producer.truth is not None:
                    self._announce_truth()
                due += period
                lag = due - time.monotonic()
                if lag > 0:
                    self._stop.wait(lag)
                elif lag < -1.0:  # we were frozen (SIGSTOP) or starved: restart the clock, do not burst
                    due = time.monotonic()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, QuaywatchError) else str(exc)
            log.error("camera-sim: frames stopped: %s", self.error)
            self.failed.set()

    def _announce_truth(self) -> None:
        """Print when a simulated fall happened, in wall-clock time, so end-to-end tests and bench/e2e.py
        can time fall -> page through every real part."""
        now = time.time()
        for kind, ago in self.producer.truth():
            print(f"camera-sim: truth {kind} at {now - ago:.3f}", flush=True)

    def stop(self) -> None:
        self._stop.set()

    def snapshot_jpeg(self) -> bytes | None:
        frame = self.latest
        if frame is None:
            return None
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return jpeg.tobytes() if ok else None


def device_model(opts: CamSimOptions, producer: FrameProducer) -> DeviceModel:
    w, h, fps = producer.width, producer.height, producer.fps
    profiles = [
        # listed first on purpose: a client must choose by encoding and resolution, not take the first
        Profile("sub_jpeg", "sub stream (MJPEG)", "JPEG", max(16, w // 2), max(16, h // 2), fps, "/sub"),
        Profile("main_h264", "main stream", "H264", w, h, fps, "/stream"),
    ]
    return DeviceModel(
        user=opts.user, password=opts.password,
        http_base=f"http://{opts.public_host}:{opts.onvif_port}", rtsp_base=f"rtsp://{opts.public_host}:{opts.rtsp_port}",
        profiles=profiles, model=f"SimThermal {w}x{h}", clock_offset_s=opts.clock_offset_s,
    )


async def serve(opts: CamSimOptions, producer: FrameProducer) -> int:
    rtsp = RtspServerProcess(opts.host, opts.rtsp_port, producer.width, producer.height, producer.fps,
                             user=opts.user if opts.password else "", password=opts.password)
    rtsp.start()
    failed = threading.Event()
    feeder = Feeder(producer, rtsp, failed)
    feeder.start()
    runner: web.AppRunner | None = None
    discovery = None
    try:
        model = device_model(opts, producer)
        runner = web.AppRunner(build_app(model, feeder.snapshot_jpeg), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, opts.host, opts.onvif_port).start()
        except OSError as exc:
            raise QuaywatchError(f"cannot serve ONVIF on {opts.host}:{opts.onvif_port}: {exc.strerror}") from None
        if opts.discovery_port:
            responder = DiscoveryResponder(model.http_base + DEVICE_PATH, opts.name, model.model)
            try:
                discovery = await serve_discovery(opts.host, opts.discovery_port, responder)
            except OSError as exc:
                raise QuaywatchError(
                    f"cannot answer WS-Discovery on udp {opts.host}:{opts.discovery_port}: {exc.strerror}") from None
        print(f"camera-sim: {producer.description} {producer.width}x{producer.height}@{producer.fps:g} fps\n"
              f"  rtsp  rtsp://{opts.public_host}:{opts.rtsp_port}{rtsp.path}\n"
              f"  onvif onvif://{opts.user}@{opts.public_host}:{opts.onvif_port}"
              + ("" if opts.password else " (no password: anyone may connect)")
              + (f"\n  discovery udp {opts.host}:{opts.discovery_port} (unicast)" if opts.discovery_port else ""),
              flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set() and not failed.is_set():
            if rtsp.proc is None or rtsp.proc.poll() is not None:
                raise QuaywatchError("the RTSP server exited")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if failed.is_set():
            raise QuaywatchError(f"camera-sim: frames stopped: {feeder.error}")
        return 0
    finally:
        feeder.stop()
        if discovery is not None:
            discovery.close()
        if runner is not None:
            await runner.cleanup()
        rtsp.stop()
