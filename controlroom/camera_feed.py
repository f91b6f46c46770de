"""Camera health and live-view frames, straight from the edge over MQTT.

The edge publishes a retained status per camera (`<prefix>/<site>/<camera>/status`, see
config/schemas/status.schema.json) and, for the live view, JPEG frames already drawn in false colour
with the quay line and tracks (`<prefix>/<site>/<camera>/<preview_topic>`, raw JPEG bytes, not retained).
A status that stops arriving means the edge itself is gone, so an old status reads as offline.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from quaywatch.config.wire import WireError, decode
from quaywatch.controlroom.backend import CameraHealth, CameraInfo, Change
from quaywatch.controlroom.changes import ChangeHub

log = logging.getLogger(__name__)
JPEG_MAGIC = b"\xff\xd8"
MAX_FRAME_BYTES = 2 * 1024 * 1024


@dataclass
class _Status:
    state: str
    fps: float | None
    last_frame_age_s: float | None
    reason: str | None
    reported_at: float   # the edge's own time stamp
    received_at: float   # our clock: staleness is judged on it, so clock skew cannot hide a dead edge


class HealthBoard:
    """Latest status and latest live frame per camera; thread-safe; publishes a Change when a state moves."""

    def __init__(self, cameras: list[CameraInfo], hub: ChangeHub, stale_after_s: float = 60.0):
        self.cameras = cameras
        self.hub = hub
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._status: dict[str, _Status] = {}
        self._frames: dict[str, tuple[float, bytes]] = {}
        self._frame_events: dict[str, threading.Condition] = {c.id: threading.Condition() for c in cameras}
        self.rejected = 0
        self._shown: dict[str, str] = {}
        self._last_seen: dict[str, float] = {}   # our clock: when the camera last gave a frame

    def known(self, camera: str) -> bool:
        return camera in self._frame_events

    def update_status(self, camera: str, payload: dict, now: float | None = None) -> None:
        if not self.known(camera):
            return
        from datetime import datetime

        now = time.time() if now is None else now
        reported = datetime.fromisoformat(payload["time"].replace("Z", "+00:00")).timestamp()
        st = _Status(payload["state"], payload.get("fps"), payload.get("last_frame_age_s"),
                     payload.get("reason"), reported, now)
        with self._lock:
            self._status[camera] = st
            if st.last_frame_age_s is not None:
                seen = now - max(0.0, st.last_frame_age_s)
                self._last_seen[camera] = max(seen, self._last_seen.get(camera, seen))
        # Every status refreshes fps / last-frame age on the open pages; it is a small message.
        self.hub.publish(Change("health", camera))

    def put_frame(self, camera: str, jpeg: bytes, now: float | None = None) -> None:
        cond = self._frame_events.get(camera)
        if cond is None:
            return
        with cond:
            self._frames[camera] = (time.time() if now is None else now, jpeg)
            cond.notify_all()

    def latest_frame(self, camera: str) -> tuple[float, bytes] | None:
        return self._frames.get(camera)

    def wake_all(self) -> None:
        """Wake every live-view wait (the service is stopping)."""
        for cond in self._frame_events.values():
            with cond:
                cond.notify_all()

    def wait_frame(self, camera: str, after: float, timeout: float) -> tuple[float, bytes] | None:
        """Block until a frame newer than `after` arrives (for the MJPEG stream), or the timeout."""
        cond = self._frame_events.get(camera)
        if cond is None:
            return None
        with cond:
            cond.wait_for(lambda: (self._frames.get(camera) or (0.0, b""))[0] > after, timeout)
            frame = self._frames.get(camera)
        return frame if frame and frame[0] > after else None

    def rows(self, now: float | None = None) -> list[CameraHealth]:
        now = time.time() if now is None else now
        out = []
        with self._lock:
            for cam in self.cameras:
                st = self._status.get(cam.id)
                seen = self._last_seen.get(cam.id)
                if st is None:
                    out.append(CameraHealth(cam.id, cam.name, "offline", reason="no status from the edge yet"))
                    continue
                silent = now - st.received_at
                # Offline: no frame rate (there are no frames), only when the camera was last seen.
                if silent > self.stale_after_s:
                    out.append(CameraHealth(cam.id, cam.name, "offline",
                                            reason=f"no status for {silent:.0f} s (edge unreachable?)",
                                            reported_at=st.reported_at, last_seen_at=seen))
                    continue
                if st.state == "offline":
                    out.append(CameraHealth(cam.id, cam.name, "offline", reason=st.reason,
                                            reported_at=st.reported_at, last_seen_at=seen))
                    continue
                age = None if st.last_frame_age_s is None else st.last_frame_age_s + max(0.0, silent)
                out.append(CameraHealth(cam.id, cam.name, st.state, fps=st.fps, last_frame_age_s=age,
                                        reason=st.reason, reported_at=st.reported_at, last_seen_at=seen))
        return out

    def check_stale(self) -> None:
        """Called periodically: a camera that went silent changes the grid although no message came."""
        for row in self.rows():
            if self._shown.get(row.camera) != row.state:
                if row.camera in self._shown:
                    self.hub.publish(Change("health", row.camera))
                self._shown[row.camera] = row.state


class CameraFeed:
    """A paho MQTT subscriber (its own network thread) feeding a HealthBoard."""

    def __init__(self, board: HealthBoard, host: str, port: int, prefix: str, site: str, preview_topic: str,
                 username: str | None = None, password: str | None = None, tls: bool = False,
                 client_id: str | None = None, ca_file: str | None = None):
        import paho.mqtt.client as paho

        self.board = board
        self.base = f"{prefix}/{site}/"
        self.preview_topic = preview_topic
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=True)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(ca_certs=ca_file)
        self.client.reconnect_delay_set(0.2, 5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.host, self.port = host, port
        self.connected = threading.Event()

    def start(self) -> CameraFeed:
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        client.subscribe([(self.base + "+/status", 1), (self.base + f"+/{self.preview_topic}", 0)])
        self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        camera, _, leaf = msg.topic[len(self.base):].partition("/")
        try:
            if leaf == "status":
                if not msg.payload:
                    return  # a cleared retained message
                self.board.update_status(camera, decode("status", bytes(msg.payload)))
            elif leaf == self.preview_topic:
                frame = bytes(msg.payload)
                if not frame.startswith(JPEG_MAGIC) or len(frame) > MAX_FRAME_BYTES:
                    raise WireError(f"preview frame on {msg.topic} is not a JPEG under {MAX_FRAME_BYTES} bytes")
                self.board.put_frame(camera, frame)
        except (WireError, KeyError, ValueError) as exc:
            self.board.rejected += 1
            log.warning("controlroom: ignored message on %s: %s", msg.topic, exc)
