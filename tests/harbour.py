"""The whole harbour through real parts, for the end-to-end tests and bench/e2e.py:

  camera-sim (live simulated scene, a fall about every minute; real RTSP + ONVIF)
    -> `quaywatch edge` -> Mosquitto -> `quaywatch alerting` -> Twilio stand-in (recording) -> Prism

Every part is a real process on 127.0.0.1 and free ports, stopped by process group.
"""

from __future__ import annotations

import copy
import re
import shutil
import sys
import time
from pathlib import Path

import yaml

from tests.camsim_peer import CameraSim
from tests.peers import AlertingProcess, Mosquitto, Process, TwilioStandIn

TRUTH = re.compile(r"camera-sim: truth (\w+) at ([\d.]+)")


class Harbour:
    CAMERA = "cam-1"

    def __init__(self, workdir: Path, prism_url: str | None = None, scene: str = "sim://aalborg?seed=1",
                 alerting_overrides: dict | None = None):
        self.dir = Path(workdir)
        self.prism_url = prism_url
        self.scene = scene
        self.overrides = alerting_overrides or {}
        self.mosquitto: Mosquitto | None = None
        self.twilio: TwilioStandIn | None = None
        self.camera: CameraSim | None = None
        self.alerting: AlertingProcess | None = None
        self.edge: Process | None = None

    def start(self) -> Harbour:
        try:
            # Its own dir under /tmp, not under pytest's root-only tmp_path: mosquitto runs as user `mosquitto`
            # and must reach its persistence dir, or sessions and queued messages die with a broker restart.
            self.mosquitto = Mosquitto().start()
            self.twilio = TwilioStandIn(upstream=self.prism_url).start()
            self.camera = CameraSim(self.dir / "camera", scene=self.scene).start()
            self.alerting = AlertingProcess(self.dir / "alerting", self.mosquitto.port, self.overrides,
                                            self.twilio.url).start()
            self.start_edge()
        except BaseException:
            self.stop()
            raise
        return self

    def start_edge(self) -> None:
        """The edge sees the alerting site's cam-1, served by the simulated ONVIF camera."""
        site = copy.deepcopy(self.alerting.site)
        cam = next(c for c in site["cameras"] if c["id"] == self.CAMERA)
        cam.update(source=self.camera.onvif_url, password_env="QW_HARBOUR_CAM_PW")
        site["cameras"] = [cam]
        site["mqtt"].update(keepalive_s=2, reconnect_min_s=0.1, reconnect_max_s=0.5)
        site["edge"] = {"worker_id": "edge-harbour", "data_dir": str(self.dir / "edge"), "offline_after_s": 5,
                        "evidence": {"http_port": 0}}
        path = self.dir / "edge-site.yaml"
        path.write_text(yaml.safe_dump(site, allow_unicode=True))
        self.edge = Process([sys.executable, "-m", "quaywatch", "edge", "--site", str(path)], self.dir / "edge.log",
                            env={"QW_HARBOUR_CAM_PW": self.camera.password, "PYTHONUNBUFFERED": "1"})

    def falls(self) -> list[float]:
        """Wall-clock times at which the simulated scene's falls happened (the camera-sim says so)."""
        return [float(m.group(2)) for m in TRUTH.finditer(self.camera.output()) if m.group(1) == "water_entry"]

    def sms(self) -> list[dict]:
        return self.twilio.posts("/Messages.json")

    def wait_for_falls(self, n: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.falls()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.falls())} simulated falls after {timeout:.0f} s")
            time.sleep(0.2)
        return self.falls()

    def stop(self) -> None:
        for part in (self.edge, self.camera, self.alerting, self.twilio, self.mosquitto):
            if part is not None:
                try:
                    part.stop()
                except Exception as exc:  # stopping one part must not leave the others running
                    print(f"harbour: stopping {type(part).__name__}: {exc}", file=sys.stderr)
        if self.mosquitto is not None:
            shutil.rmtree(self.mosquitto.dir, ignore_errors=True)
