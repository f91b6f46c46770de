"""Live finds a fall as replay does: the same simulated fall, replayed from a clip file and served live over a
congested link, must both be raised as `water_entry` (the crossing), live no later than replay.

    camera-sim (live simulated Aalborg scene; GStreamer RTSP under /usr/bin/python3)
      -> a congested link (a loopback proxy that hands the camera's bytes over in bursts, every 0.44 s)
      -> `quaywatch edge` -> Mosquitto

A link like that (or a capture thread that waited for the CPU) delivers four frames within a few
milliseconds, then nothing for 0.4 s. Timed by their arrival, the tracker saw a walker move a pixel in 2 ms
(a gull's speed) and then jump, lost the falling body, and the head in the water became a new track:
`person_in_water` seconds later, or nothing at all; and a detection queue of one frame dropped half of
every burst. The edge now times frames by the camera's clock (the stream's PTS) and lets a second of
frames wait for the detector (docs/cameras.md, "Frame times").
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

from quaywatch.config import load_site
from quaywatch.config.wire import decode
from quaywatch.edge.camsim.frames import agc8
from quaywatch.edge.clips import ClipWriter
from quaywatch.evaluation.replay import replay
from quaywatch.simulator.live import LiveScene
from tests.camsim_peer import CameraSim
from tests.peers import MqttRecorder, Process, wait_until

SCENE, SEED = "aalborg", 4  # its first fall: a walker goes over the edge 24.8 s into the scene
BURST_S = 4 / 9  # the link hands over what it holds every four frame intervals
SLACK_S = 1.0  # live against replay: the camera's own encode-and-send delay (~0.2 s for camera-sim), a few frames
ALERTS = ("water_entry", "person_in_water")
TRUTH = re.compile(r"camera-sim: truth water_entry at ([\d.]+)")


class BurstyLink:
    """A loopback TCP proxy to the camera: what the camera sends is held and released every `period` seconds
    (a congested link); what the client sends passes at once."""

    def __init__(self, upstream_port: int, period: float):
        self.upstream = ("127.0.0.1", upstream_port)
        self.period = period
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, name="bursty-link", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                camera = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            camera.settimeout(None)
            self._sockets += [client, camera]
            threading.Thread(target=self._forward, args=(client, camera), daemon=True).start()
            threading.Thread(target=self._bursts, args=(camera, client), daemon=True).start()

    def _forward(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._close(src, dst)

    def _bursts(self, src: socket.socket, dst: socket.socket) -> None:
        held, lock, ended = bytearray(), threading.Lock(), threading.Event()

        def receive() -> None:
            try:
                while data := src.recv(65536):
                    with lock:
                        held.extend(data)
            except OSError:
                pass
            ended.set()

        threading.Thread(target=receive, daemon=True).start()
        try:
            while not ended.is_set() and not self._stop.is_set():
                time.sleep(self.period - time.monotonic() % self.period)
                with lock:
                    burst = bytes(held)
                    held.clear()
                if burst:
                    dst.sendall(burst)
        except OSError:
            pass
        self._close(src, dst)

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._close(*self._sockets)
        for s in self._sockets:
            s.close()


def replayed_delay(tmp_path: Path) -> tuple[str, float]:
    """The scene's first fall written to a clip and replayed (`quaywatch replay`'s path): kind and delay."""
    scene = LiveScene(SCENE, seed=SEED, fps=9)
    frames = []
    while not scene.events or len(frames) < (scene.events[0].t + 8) * 9:
        frames.append(agc8(scene.next_frame()[1]))
    clip = tmp_path / "fall.mp4"
    with ClipWriter(clip, 9.0, frames[0].shape[1], frames[0].shape[0]) as w:
        for f in frames:
            w.write(f)
    result = replay(clip, "demo", "cam-1")
    fall = scene.events[0].t
    first = min((a.detection for a in result.alerts if a.detection.t >= fall - 1.0), key=lambda d: d.t)
    return first.kind, first.t - fall


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_fall_over_a_congested_link_is_raised_as_the_crossing_like_replay(mosquitto, tmp_path):
    sim = CameraSim(tmp_path / "camsim", scene=f"sim://{SCENE}?seed={SEED}")  # skips without GStreamer
    kind, replay_delay = replayed_delay(tmp_path)
    assert kind == "water_entry", f"replay itself raised {kind}"

    cam = load_site("demo").camera("cam-1")
    sim.start()
    link = BurstyLink(sim.rtsp_port, BURST_S)
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "site": {"id": "live-harbour", "name": "Live Harbour"},
        "cameras": [{"id": "cam-1", "name": cam.name, "source": f"rtsp://{sim.USER}@127.0.0.1:{link.port}/stream",
                     "password_env": "QW_LIVE_CAM_PW", "resolution": [384, 288], "fps": 9, "water": cam.water,
                     "quay_line": cam.quay_line, "exclude": cam.exclude, "location": {"lat": 57.05, "lon": 9.92}}],
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "keepalive_s": 2, "reconnect_min_s": 0.1},
        "edge": {"worker_id": "edge-live", "data_dir": str(tmp_path / "edge"), "evidence": {"http_port": 0},
                 "preview_fps": 0},
    }))
    rec = MqttRecorder(mosquitto.port, "quaywatch/live-harbour/#", client_id="live-fall-recorder")
    edge = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(site), "--stats-every", "5"],
                   tmp_path / "edge.log", env={"QW_LIVE_CAM_PW": sim.password, "PYTHONUNBUFFERED": "1"})
    try:
        def logs() -> str:
            return f"--- edge ---\n{edge.output()[-4000:]}\n--- camera ---\n{sim.output()[-1500:]}"

        fall = float(wait_until(lambda: TRUTH.search(sim.output()), 90, "the scene's first fall", logs).group(1))

        def first_alert() -> dict | None:
            events = [decode("event", p) for t, p, _ in list(rec.messages) if t.endswith("/cam-1/events")]
            alerts = [e for e in events if e["kind"] in ALERTS and epoch(e["time"]) >= fall - 1.0]
            return min(alerts, key=lambda e: epoch(e["time"])) if alerts else None

        # The first alert about this fall: anything raised later than this cannot be the crossing in time.
        time.sleep(max(0.0, fall + replay_delay + SLACK_S + 3.0 - time.time()))
        event = wait_until(first_alert, 10, "an alert about the fall", logs)
        delay = epoch(event["time"]) - fall
        stats = re.findall(r"stats (\{.*\})", edge.output())
        print(f"\nreplay: water_entry +{replay_delay:.2f} s; live over a link bursting every {BURST_S:.2f} s: "
              f"{event['kind']} {delay:+.2f} s; edge {stats[-1] if stats else ''}")
        assert event["kind"] == "water_entry", f"live raised {event['kind']} {delay:+.2f} s after the fall " \
            f"(replay: water_entry +{replay_delay:.2f} s)\n{logs()}"
        assert -1.0 <= delay <= replay_delay + SLACK_S, f"water_entry {delay:+.2f} s after the fall, replay " \
            f"+{replay_delay:.2f} s\n{logs()}"
    finally:
        edge.stop()
        link.close()
        sim.stop()
        rec.close()
