"""The edge worker: many cameras in one process, detection on a small pool of threads, events out through
the outbox and MQTT, evidence kept and served, camera health published.

Frames flow:  CameraCapture thread --on_frame--> per-camera queue (up to a second) --> its detection thread
              --> CameraPipeline (the same path replay uses) --> event + evidence --> outbox --> MqttLink

CPU is bounded by the number of detection threads, not by the number of cameras. OpenCV and NumPy release
the GIL, but the detector's Python between their calls holds it: past a dozen cameras the threads queue for
it, and `edge.detection_in: processes` gives each thread a detection process of its own to hand its cameras'
frames to (edge/detect_process.py). Each thread owns whole cameras (assigned at start,
the busiest first to the least loaded thread) and has its own ready queue: no lock is shared between
threads on the frame path, only each camera's own between its capture thread and its detection thread.
Evidence is the camera's own encoded stream (edge/packet_ring.py): nothing decoded is kept. Frames arrive in bursts (a congested link, a capture
thread that waited for the CPU) even from a camera whose detector easily keeps up, and the detector must see
every one of them: a fall lasts half a second, and a tracker that misses frames of it loses the body. So a
camera may have up to a second of frames waiting (`BACKLOG_S`, at least `queue_frames`); only a detector
that stays behind for longer drops frames, the oldest first (counted), so alerts lag the harbour by a second
at most. A camera is only ever processed by its own thread (its detector has state), and a thread's cameras
take turns, so a busy camera cannot starve the others.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from quaywatch.config import Camera, Site
from quaywatch.config.wire import encode
from quaywatch.detector.overlay import render_overlay
from quaywatch.detector.types import FrameResult
from quaywatch.edge.capture import CameraCapture, CameraHealth, CapturedFrame
from quaywatch.edge.detect_process import DetectorLost, DetectorProcess
from quaywatch.edge.events import camera_event, detection_event, new_event_id, to_wire
from quaywatch.edge.evidence import EvidenceStore, snapshot_jpeg
from quaywatch.edge.evidence_codec import FrameEncoder, frame_near
from quaywatch.edge.evidence_http import EvidenceServer
from quaywatch.edge.health import DarkCameraWatch
from quaywatch.edge.mqtt import MqttLink, utc_iso
from quaywatch.edge.outbox import Outbox
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.pipeline import Alert, CameraPipeline
from quaywatch.edge.selftest import SelfTester
from quaywatch.edge.track_trail import TrackTrail
from quaywatch.errors import QuaywatchError
from quaywatch.mqtt_accounts import credentials, evidence_token

log = logging.getLogger(__name__)

BACKLOG_S = 1.0  # seconds of a camera's frames that may wait for a detection thread before any is dropped


@dataclass
class CameraStats:
    processed: int = 0
    dropped: int = 0  # the camera's detector stayed behind for BACKLOG_S: its oldest waiting frame was dropped
    alerts: int = 0
    errors: int = 0
    detector_restarts: int = 0  # its detection process was lost (died or stalled) and started again
    detect_s: float = 0.0  # total wall time in the pipeline
    detect_cpu_s: float = 0.0  # total CPU time of the detection thread in the pipeline (not waiting for a core)
    publish_cpu_s: float = 0.0  # CPU time after detection: alerts with evidence, the drill's copy
    preview_cpu_s: float = 0.0  # CPU time drawing and compressing the control room's live view (preview_fps)
    evidence_cpu_s: float = 0.0  # CPU time of the capture thread keeping frames for evidence (packetless sources)

    def as_dict(self) -> dict:
        n = self.processed or 1
        return {"processed": self.processed, "dropped": self.dropped, "alerts": self.alerts,
                "errors": self.errors, "detector_restarts": self.detector_restarts, "detect_ms": round(1000 * self.detect_s / n, 2),
                "detect_cpu_ms": round(1000 * self.detect_cpu_s / n, 3),
                "publish_cpu_ms": round(1000 * self.publish_cpu_s / n, 3),
                "preview_cpu_ms": round(1000 * self.preview_cpu_s / n, 3),
                "evidence_cpu_ms": round(1000 * self.evidence_cpu_s / n, 3)}


class DetectionThread:
    """One of the pool: owns whole cameras, takes them from its own ready queue (SimpleQueue: no lock shared
    with the other threads)."""

    def __init__(self, index: int):
        self.index = index
        self.ready: queue.SimpleQueue[CameraRunner | None] = queue.SimpleQueue()
        self.load = 0.0  # pixels a second of the cameras it owns
        self.thread: threading.Thread | None = None
        self.process: DetectorProcess | None = None  # edge.detection_in: processes; its detectors live there


@dataclass(eq=False)
class CameraRunner:
    """Everything the worker keeps for one camera."""

    camera: Camera
    waiting: deque
    backlog: int  # frames that may wait (BACKLOG_S of this camera's frames); beyond, the oldest is dropped
    ring: EncodedRing
    trail: TrackTrail  # the detector's boxes over the ring's span: the clip's box on every frame
    watch: DarkCameraWatch
    owner: DetectionThread | None = None
    encoder: FrameEncoder | None = None  # pictures into the ring, for sources that give no packets
    pipeline: CameraPipeline | None = None  # detection in threads: the camera's detector, here
    last: FrameResult | None = None  # the detector's latest answer (tracks for the trail and the live view)
    fps: float | None = None  # the rate its detector runs at, settled on the first frame (EdgeWorker._fps)
    capture: CameraCapture | None = None
    health: CameraHealth | None = None
    scheduled: bool = False  # in the ready queue or being processed
    preview_due: float = 0.0  # monotonic time the next live-view frame is owed
    stats: CameraStats = field(default_factory=CameraStats)
    lock: threading.Lock = field(default_factory=threading.Lock)


class EdgeWorker:
    def __init__(self, site: Site, broker: tuple[str, int], *, cameras: list[str] | None = None,
                 data_dir: str | Path | None = None, evidence_port: int | None = None, realtime: bool = True,
                 sources: dict | None = None):
        """`broker` is (host, port) already resolved (configured or embedded); `sources` maps a camera id to
        a frame source object instead of opening `camera.source` (the simulator and tests use it)."""
        self.site = site
        self.cfg = site.edge
        self.realtime = realtime
        self.data_dir = Path(data_dir or self.cfg.data_dir)
        chosen = [site.camera(c) for c in cameras] if cameras else [c for c in site.cameras if c.enabled]
        if not chosen:
            raise QuaywatchError(f"site {site.site.id!r}: no enabled camera to run")
        self._sources = sources or {}
        self.threads = self.cfg.detection_threads or os.cpu_count() or 2
        now = time.time()
        ring_s = self.cfg.evidence.pre_s + self.cfg.evidence.post_s + 2.0
        self.runners = {
            c.id: CameraRunner(
                camera=c, waiting=deque(), backlog=self._backlog(c), ring=EncodedRing(ring_s),
                trail=TrackTrail(ring_s + 10.0),  # the ring may reach back a GOP before its span
                watch=DarkCameraWatch(c.id, self.cfg.offline_after_s, now, self.cfg.capture.open_timeout_s),
            )
            for c in chosen
        }
        # Scheduled drills (edge/selftest.py): a second detector on copies of a due camera's frames, results
        # through the same outbox as real alerts.
        self.selftest = SelfTester(site, list(self.runners), lambda cid, payload: self._enqueue(cid, payload))
        self.outbox = Outbox(self.data_dir / "outbox.db")
        try:
            self.link = MqttLink(site.mqtt, site.site.id, self.cfg.worker_id, self.outbox, *broker,
                                credentials=credentials(site, "edge"))
            self.topics = self.link.topics
            self.evidence = EvidenceStore(self.data_dir / "evidence", self.cfg.evidence)
            ev = self.cfg.evidence
            port = ev.http_port if evidence_port is None else evidence_port
            self.server = EvidenceServer(self.evidence, ev.http_host, port, evidence_token(site), ev.public_url,
                                         stats=lambda: self.stats())
        except BaseException:
            self.outbox.close()  # release it: the caller may try again in this process
            raise
        self._stop = threading.Event()
        self._pool = [DetectionThread(i) for i in range(self.threads)]
        for runner in sorted(self.runners.values(), key=_pixel_rate, reverse=True):  # busiest first
            owner = min(self._pool, key=lambda d: d.load)
            owner.load += _pixel_rate(runner)
            runner.owner = owner
        self._ticker: threading.Thread | None = None

    # --- life -----------------------------------------------------------------------------------
    def start(self) -> EdgeWorker:
        # The pool is the parallelism: OpenCV's own worker threads on top would oversubscribe the cores
        # and make one camera's frame compete with another's.
        cv2.setNumThreads(1)
        pending = len(self.outbox)
        if pending:
            log.info("outbox holds %d unacknowledged event(s) from before: resending them first", pending)
        self.link.start()
        self.evidence.start()
        self.server.start()
        for d in self._pool:
            if self.cfg.detection_in == "processes":
                d.process = DetectorProcess(self.site, d.index, self.cfg.detection_stall_s).start()
            d.thread = threading.Thread(target=self._detect_loop, args=(d,), name=f"detect-{d.index}", daemon=True)
            d.thread.start()
        for d in self._pool:  # before any camera: a frame must not wait for a process's imports
            if d.process is not None:
                d.process.wait_ready()
        for runner in self.runners.values():
            runner.capture = CameraCapture(
                runner.camera, self.cfg.capture,
                on_frame=lambda cf, r=runner: self._on_frame(r, cf),
                on_health=lambda h, r=runner: self._on_health(r, h),
                realtime=self.realtime, source=self._sources.get(runner.camera.id), ring=runner.ring,
            ).start()
        self._ticker = threading.Thread(target=self._tick_loop, name="edge-health", daemon=True)
        self._ticker.start()
        log.info("edge worker %s: %d camera(s), %d detection thread(s)%s, evidence at %s",
                 self.cfg.worker_id, len(self.runners), self.threads,
                 ", each with its detection process" if self.cfg.detection_in == "processes" else "",
                 self.server.base_url)
        return self

    def _backlog(self, camera: Camera) -> int:
        """A second of the frames the camera's detector takes (30 fps assumed when the site does not say; its
        `detect_fps` when lower), at least queue_frames."""
        fps = min(camera.fps or 30.0, camera.detect_fps or math.inf)
        return max(self.cfg.queue_frames, math.ceil(BACKLOG_S * fps))

    def stop(self) -> None:
        self._stop.set()
        captures = [r.capture for r in self.runners.values() if r.capture]
        for capture in captures:  # ask them all first, so a hung camera's timeout is paid once, not per camera
            capture.stop(timeout=0)
        for capture in captures:
            capture.stop(timeout=1.0)
        for d in self._pool:
            d.ready.put(None)
        for d in self._pool:
            if d.thread is not None:
                d.thread.join(5)
            if d.process is not None:
                d.process.stop()
        if self._ticker:
            self._ticker.join(5)
        self.link.stop()
        self.server.stop()
        self.evidence.stop()
        self.outbox.close()

    def stats(self) -> dict:
        out = {"worker": self.cfg.worker_id, "link": self.link.stats.as_dict(), "outbox": len(self.outbox),
               "cameras": {}}
        processes = [d.process for d in self._pool if d.process is not None]
        if processes:
            out["detection_processes"] = [
                {"index": p.index, "pid": p.pid, "restarts": p.restarts, "cpu_s": round(p.cpu_s(), 3),
                 "peak_rss_mb": round(p.peak_rss_mb(), 1)} for p in processes]
        for cid, r in self.runners.items():
            cap = r.capture.stats() if r.capture else None
            out["cameras"][cid] = {**r.stats.as_dict(), "state": cap.state if cap else "starting",
                                   "fps": cap.fps if cap else 0.0, "frames": cap.frames if cap else 0,
                                   "decode_cpu_ms": cap.decode_ms if cap else 0.0,
                                   "thread": r.owner.index if r.owner else None,
                                   "evidence_ring": r.ring.stats()}
        return out

    # --- capture threads --------------------------------------------------------------------------
    def _on_frame(self, runner: CameraRunner, cf: CapturedFrame) -> None:
        runner.watch.frame(time.time())
        if runner.encoder is None and runner.ring.session is None:  # the source gives no packets: encode
            runner.encoder = FrameEncoder(runner.ring, self.cfg.evidence.clip_fps_max)
        if runner.encoder is not None:
            c0 = time.thread_time()
            try:
                runner.encoder.add(cf.t, cf.frame)
            except Exception as exc:  # evidence is a convenience; detection goes on
                log.warning("%s: frame not kept for evidence: %s", runner.camera.id, exc)
            runner.stats.evidence_cpu_s += time.thread_time() - c0
        with runner.lock:
            while len(runner.waiting) >= runner.backlog:  # behind for BACKLOG_S: the oldest frame goes
                runner.waiting.popleft()
                runner.stats.dropped += 1
            runner.waiting.append(cf)
            if runner.scheduled:
                return
            runner.scheduled = True
        runner.owner.ready.put(runner)

    def _on_health(self, runner: CameraRunner, health: CameraHealth) -> None:
        runner.health = health
        runner.watch.health(health.state, health.reason)
        self._publish_camera_status(runner)

    # --- detection pool ---------------------------------------------------------------------------
    def _detect_loop(self, owner: DetectionThread) -> None:
        while True:
            runner = owner.ready.get()
            if runner is None or self._stop.is_set():
                return
            with runner.lock:
                cf = runner.waiting.popleft() if runner.waiting else None
                if cf is None:
                    runner.scheduled = False
                    continue
            try:
                self._detect(runner, cf)
            finally:
                with runner.lock:
                    again = bool(runner.waiting)
                    runner.scheduled = again
                if again:
                    owner.ready.put(runner)  # to the back of the line: the thread's cameras take turns

    def _detect(self, runner: CameraRunner, cf: CapturedFrame) -> None:
        cam = runner.camera
        started, cpu0 = time.perf_counter(), time.thread_time()
        remote_cpu = None
        try:
            if runner.fps is None:  # once: the stream's rate (it may warn), as the detector's time constants need
                runner.fps = self._fps(runner)
            if runner.owner.process is not None:
                answer = runner.owner.process.process(cam.id, runner.fps, cf.t, cf.frame)
                alerts, runner.last, remote_cpu = answer.alerts, answer.result, answer.cpu_s
            else:
                if runner.pipeline is None:
                    runner.pipeline = CameraPipeline(self.site, cam, fps=runner.fps)
                alerts = runner.pipeline.process(cf.t, cf.frame)
                runner.last = runner.pipeline.last
        except DetectorLost as exc:  # every camera of that process starts afresh; this one says so
            self._lost(runner.owner, exc)
            return
        except QuaywatchError as exc:  # e.g. the stream changed resolution: start the detector afresh
            runner.stats.errors += 1
            log.warning("%s: %s; restarting its detector", cam.id, exc)
            runner.pipeline = None
            return
        except Exception:
            runner.stats.errors += 1
            log.exception("%s: detection failed on frame %d (dropped)", cam.id, cf.index)
            return
        finally:
            runner.stats.detect_s += time.perf_counter() - started
            cpu1 = time.thread_time()
            # in a process, the detection's CPU is the process's (the thread here only waited for it)
            runner.stats.detect_cpu_s += cpu1 - cpu0 if remote_cpu is None else remote_cpu
        runner.stats.processed += 1
        runner.trail.add(cf.t, runner.last.tracks)
        for alert in alerts:
            try:
                self._raise_alert(runner, alert, cf)
            except Exception:
                runner.stats.errors += 1
                log.exception("%s: could not raise alert %s", cam.id, alert.as_json())
        # Only after the real alerts are out: the drill gets its own copy of the frame, never this one.
        self.selftest.frame(cam.id, cf.t, cf.frame)
        cpu2 = time.thread_time()
        runner.stats.publish_cpu_s += cpu2 - cpu1
        self._preview(runner, cf)
        runner.stats.preview_cpu_s += time.thread_time() - cpu2

    def _lost(self, owner: DetectionThread, exc: DetectorLost) -> None:
        """A detection process was lost: each of its cameras counts it and learns its background again."""
        log.error("%s", exc)
        for r in self.runners.values():
            if r.owner is owner:
                r.stats.errors += 1
                r.stats.detector_restarts += 1
                r.last = None

    def _preview(self, runner: CameraRunner, cf: CapturedFrame) -> None:
        """The control room's live view: what the detector sees, drawn, a couple of times a second."""
        if self.cfg.preview_fps <= 0 or runner.last is None:
            return
        now = time.monotonic()
        if now < runner.preview_due:
            return
        runner.preview_due = now + 1.0 / self.cfg.preview_fps
        bgr = render_overlay(cf.frame, runner.last, runner.camera, show_blobs=False)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 70])
        if ok:
            self.link.set_preview(self.topics.preview(runner.camera.id, self.site.controlroom.preview_topic),
                                  jpeg.tobytes())

    @staticmethod
    def _fps(runner: CameraRunner) -> float:
        """The detector's time constants need the stream's frame rate: the config's, else what the stream
        announces (`nominal_fps`, when the capture exposes it), else 9 fps (the common thermal rate); and
        `detect_fps` when the detector looks at fewer frames than the stream has."""
        fps = runner.camera.fps or getattr(runner.capture, "nominal_fps", None)
        if not fps:
            log.warning("%s: no fps in the site config and none announced by the stream; assuming 9",
                        runner.camera.id)
        fps = float(fps or 9.0)
        return min(fps, runner.camera.detect_fps) if runner.camera.detect_fps else fps

    def _raise_alert(self, runner: CameraRunner, alert: Alert, cf: CapturedFrame) -> None:
        det, cam = alert.detection, runner.camera
        # The detection may be about a frame a moment back (a crossing is confirmed after it happened): that
        # picture is decoded from the evidence ring (from the keyframe before it), so the box lands on the
        # picture it came from. The overlay is drawn on this snapshot only; the clip is the camera's stream.
        try:
            nearest = frame_near(runner.ring, det.t)
        except Exception as exc:
            log.warning("%s: no picture from the evidence ring for the snapshot: %s", cam.id, exc)
            nearest = None
        frame = nearest[1] if nearest is not None and nearest[1].shape == cf.frame.shape else cf.frame
        event_id = new_event_id()
        jpeg = snapshot_jpeg(frame, cam, det, self.cfg.evidence.snapshot_max_bytes)
        self.evidence.save_snapshot(event_id, jpeg)
        self.evidence.schedule_clip(event_id, cam, runner.ring, det, runner.trail)
        evidence = {"snapshot_jpeg_b64": base64.b64encode(jpeg).decode("ascii"),
                    "snapshot_url": self.server.snapshot_url(event_id),
                    "clip_url": self.server.clip_url(event_id)}
        h, w = frame.shape[:2]
        payload = detection_event(self.site.site.id, cam, det, (w, h), evidence, event_id=event_id)
        self._enqueue(cam.id, payload)
        runner.stats.alerts += 1
        log.warning("%s: %s at t=%s (event %s)", cam.id, det.kind, utc_iso(det.t), event_id)

    def _enqueue(self, camera_id: str, payload: dict) -> None:
        wire = to_wire(payload)  # validated against event.schema.json before it is stored
        self.outbox.put(payload["event_id"], self.topics.events(camera_id), wire, time.time())
        self.link.notify()

    # --- health ticker -----------------------------------------------------------------------------
    def _tick_loop(self) -> None:
        last_status = 0.0
        while not self._stop.wait(0.5):
            now = time.time()
            for runner in self.runners.values():
                event = runner.watch.check(now)
                if event is None:
                    continue
                payload = camera_event(self.site.site.id, runner.camera, event.kind, event.t, event.message)
                log.warning("%s: %s (event %s)", runner.camera.id, event.message, payload["event_id"])
                try:
                    self._enqueue(runner.camera.id, payload)
                except Exception:  # the outbox is on a full or broken disk: say so every time
                    log.exception("%s: could not store %s event", runner.camera.id, event.kind)
            self.selftest.tick(now)  # starts due self-tests; fails those of cameras giving no frames
            if now - last_status >= self.cfg.status_interval_s:
                last_status = now
                for runner in self.runners.values():
                    self._publish_camera_status(runner)

    def _publish_camera_status(self, runner: CameraRunner) -> None:
        if runner.health is None:
            return  # nothing known yet: the capture reports its first state within its open timeout
        cap = runner.capture.stats() if runner.capture else runner.health.stats
        state = runner.health.state if cap.state not in ("online", "degraded", "offline") else cap.state
        payload = {
            "version": 1, "site": self.site.site.id, "camera": runner.camera.id, "worker": self.cfg.worker_id,
            "state": state, "time": utc_iso(time.time()), "reason": runner.health.reason[:500],
            "fps": cap.fps, "last_frame_age_s": cap.last_frame_age_s, "decode_ms": cap.decode_ms,
            "frames": cap.frames, "dropped": cap.dropped + runner.stats.dropped, "reconnects": cap.reconnects,
        }
        self.link.set_status(self.topics.camera_status(runner.camera.id), encode("status", payload))


def _pixel_rate(runner: CameraRunner) -> float:
    """What a camera costs its detection thread, roughly: pixels a second the detector looks at."""
    cam = runner.camera
    w, h = cam.resolution or (640, 512)
    return w * h * (cam.detect_fps or cam.fps or 9.0)
