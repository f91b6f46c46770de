"""Evidence for each alert: a small false-colour JPEG with the alert's box (inlined in the event) and a short
MP4 clip from before to after the entry (served over HTTP by edge/evidence_http.py), so a dispatcher sees
what the camera saw.

Clips are cut from the camera's own encoded stream, kept per camera in an EncodedRing (edge/packet_ring.py):
an H.264/H.265 stream is remuxed as sent, from the keyframe before the pre-roll (so the clip starts before
the entry) to `post_s` after it: no decoding, no re-encoding, no overlay (the snapshot carries the box).
Only a ring of pictures encoded on the edge that cannot go into a browser's MP4 (16-bit FFV1) is decoded
and encoded to H.264, false colour as the snapshot. Neither has a box drawn in: the detector's box on each
frame goes beside the clip (`<id>.boxes.json`, edge/track_trail.py) and the control room draws it. Clips
are written on one background thread once the post-entry packets have arrived (or the camera went quiet),
never on a detection thread.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from quaywatch.config import Camera
from quaywatch.config.edge import EvidenceConfig
from quaywatch.detector.overlay import render_overlay
from quaywatch.detector.types import Detection
from quaywatch.edge.evidence_codec import decode_units, remux_mp4
from quaywatch.edge.packet_ring import EncodedRing
from quaywatch.edge.track_trail import TrackTrail

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")


def annotated(frame: np.ndarray, camera: Camera, detection: Detection | None = None) -> np.ndarray:
    """BGR image as the detector's debug view draws it: false colour, water tint, quay line, the alert box."""
    return render_overlay(frame, None, camera, [detection] if detection else [], show_blobs=False)


def snapshot_jpeg(frame: np.ndarray, camera: Camera, detection: Detection | None = None,
                  max_bytes: int = 40_000) -> bytes:
    """Best JPEG that fits `max_bytes`: lower the quality first, then halve the size."""
    img = annotated(frame, camera, detection)
    while True:
        for quality in (85, 70, 55, 40, 30):
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and len(buf) <= max_bytes:
                return buf.tobytes()
        if min(img.shape[:2]) < 64:
            return buf.tobytes()  # cannot get smaller in any useful way; still bounded by the schema
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)


def snapshot_b64(*args, **kwargs) -> str:
    return base64.b64encode(snapshot_jpeg(*args, **kwargs)).decode("ascii")


def write_mp4(path: Path, frames: list[tuple[float, np.ndarray]], camera: Camera) -> None:
    """Browser-playable: H.264, yuv420p, even dimensions, moov atom first (faststart) so playback starts
    before the download ends. Written to a temporary name and renamed, so a reader never sees half a file."""
    if not frames:
        raise ValueError("no frames for the clip")
    h, w = frames[0][1].shape[:2]
    w2, h2 = w - w % 2, h - h % 2
    span = frames[-1][0] - frames[0][0]
    fps = (len(frames) - 1) / span if len(frames) > 1 and span > 0 else 10.0
    tmp = path.with_suffix(".part")
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "26", "threads": "1"}  # one core at most
        t0 = frames[0][0]
        stream.codec_context.time_base = Fraction(1, 1000)
        for t, frame in frames:
            img = annotated(frame, camera)[:h2, :w2]  # false colour; the box is the page's overlay
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            vf.pts = round((t - t0) * 1000)
            vf.time_base = Fraction(1, 1000)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)


@dataclass
class _ClipJob:
    event_id: str
    camera: Camera
    ring: EncodedRing
    detection: Detection
    deadline: float  # monotonic: encode with what we have by then (the camera may have died)
    trail: TrackTrail | None = None  # the detector's boxes, for the clip's box on every frame
    done: threading.Event = field(default_factory=threading.Event)


class EvidenceStore:
    """Clips and snapshots on disk under `<dir>/<event_id>.mp4|.jpg`, and beside each clip the alert's box on
    each of its frames (`<event_id>.boxes.json`); pending clips are waited for."""

    def __init__(self, directory: str | Path, cfg: EvidenceConfig):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg
        self._jobs: dict[str, _ClipJob] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.clips_written = 0
        self.clip_errors = 0
        self._thread = threading.Thread(target=self._run, name="evidence-clips", daemon=True)

    def start(self) -> EvidenceStore:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def path(self, event_id: str, ext: str) -> Path | None:
        if not EVENT_ID.match(event_id) or ext not in ("mp4", "jpg", "boxes.json"):
            return None
        return self.dir / f"{event_id}.{ext}"

    def save_snapshot(self, event_id: str, jpeg: bytes) -> None:
        p = self.path(event_id, "jpg")
        if p is not None:
            p.write_bytes(jpeg)

    def schedule_clip(self, event_id: str, camera: Camera, ring: EncodedRing, detection: Detection,
                      trail: TrackTrail | None = None) -> None:
        wait = self.cfg.post_s + max(2.0, self.cfg.post_s)  # post-entry frames, plus slack for a slow camera
        job = _ClipJob(event_id, camera, ring, detection, time.monotonic() + wait, trail)
        with self._lock:
            self._jobs[event_id] = job
        self._wake.set()

    def wait_for(self, event_id: str, timeout: float) -> bool:
        """True when no clip is pending for this id (done, failed or never scheduled)."""
        with self._lock:
            job = self._jobs.get(event_id)
        return job is None or job.done.wait(timeout)

    def _run(self) -> None:
        # Clips can wait a moment; detection cannot. Linux nice values are per thread (and inherited by
        # the encoder's own threads), so this thread yields the CPU to the detection pool.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self._stop.is_set():
            self._wake.wait(0.25)
            self._wake.clear()
            with self._lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                latest = job.ring.latest_t()
                ready = latest is not None and latest >= job.detection.t + self.cfg.post_s
                if ready or time.monotonic() >= job.deadline or self._stop.is_set():
                    self._encode(job)
        with self._lock:
            for job in self._jobs.values():
                job.done.set()

    def _encode(self, job: _ClipJob) -> None:
        t = job.detection.t
        try:
            t0, t1 = t - self.cfg.pre_s, t + self.cfg.post_s
            session, units = job.ring.window(t0, t1)
            if session is None or not units:
                raise ValueError("the evidence ring holds nothing from around the entry")
            path = self.dir / f"{job.event_id}.mp4"
            if session.remuxable:
                remux_mp4(path, session, units)
                start = units[0].t  # the clip's time 0: its first packet
            else:
                frames = [(ft, f) for ft, f in decode_units(session, units) if t0 <= ft <= t1]
                write_mp4(path, frames, job.camera)  # no box drawn in: the page draws it, as for a remux
                start = frames[0][0]
            self.clips_written += 1
            if job.trail is not None:
                self._write_boxes(job, start, t1, (session.width, session.height))
        except Exception as exc:  # a clip is a convenience; the alert has already gone out
            self.clip_errors += 1
            log.warning("evidence clip for %s not written: %s", job.event_id, exc)
        finally:
            with self._lock:
                self._jobs.pop(job.event_id, None)
            job.done.set()
        self._prune()

    def _write_boxes(self, job: _ClipJob, start: float, end: float, size: tuple[int, int]) -> None:
        """The alert's track on each frame of the clip, in seconds from the clip's start, for the control room
        to draw over the video (the clip itself is the camera's stream, without an overlay)."""
        boxes = job.trail.boxes(job.detection.track_id, start, end)
        doc = {"version": 1, "frame_size": list(size), "entry_t": round(job.detection.t - start, 3),
               "boxes": [[round(t - start, 3), *map(int, b)] for t, b in boxes]}
        tmp = self.dir / f"{job.event_id}.boxes.part"
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self.dir / f"{job.event_id}.boxes.json")

    def _prune(self) -> None:
        clips = sorted(self.dir.glob("*.mp4"), key=lambda p: p.stat().st_mtime)
        for old in clips[: max(0, len(clips) - self.cfg.keep_clips)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".jpg").unlink(missing_ok=True)
            old.with_suffix(".boxes.json").unlink(missing_ok=True)
