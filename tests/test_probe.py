"""`quaywatch probe` and `quaywatch discover` as an engineer runs them, against the simulated camera;
passwords never appear in what they print."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

from quaywatch.edge.sources.redact import redact, with_credentials
from tests.camsim_peer import CameraSim

PASSWORD = "Quay!pw@42"  # characters that need percent-encoding in a URL


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    cam = CameraSim(tmp_path_factory.mktemp("probe"), size="192x144", password=PASSWORD, discovery=True).start()
    yield cam
    cam.stop()


def quaywatch(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quaywatch", *args], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QUAYWATCH_CAMERA_PASSWORD": password})


def test_probe_json_against_the_onvif_camera(sim, tmp_path):
    snap = tmp_path / "snap.jpg"
    out = quaywatch("probe", sim.onvif_url, "--json", "--snapshot", str(snap), "--frames", "18")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["device"]["model"] == "SimThermal 192x144"
    assert report["profile"] == "main_h264" and len(report["profiles"]) == 2
    assert report["stream_uri"] == f"rtsp://127.0.0.1:{sim.rtsp_port}/stream"
    assert report["resolution"] == [192, 144] and report["dtype"] == "uint8"
    assert report["frames_read"] == 18
    assert 6 < report["fps_measured"] < 12  # the camera sends 9 fps; measured from the stream, not announced
    assert report["snapshot_from"] == "camera"
    assert cv2.imread(str(snap), cv2.IMREAD_GRAYSCALE).shape == (144, 192)
    assert PASSWORD not in out.stdout + out.stderr
    print(f"\nprobe: opened in {report['open_s']} s, {report['fps_measured']} fps measured")


def test_probe_rtsp_direct_saves_a_frame(sim, tmp_path):
    snap = tmp_path / "frame.png"
    out = quaywatch("probe", sim.rtsp_url, "--snapshot", str(snap), "--frames", "5")
    assert out.returncode == 0, out.stderr
    assert "resolution  192x144 uint8" in out.stdout and "from the stream" in out.stdout
    assert cv2.imread(str(snap), cv2.IMREAD_GRAYSCALE).shape == (144, 192)


@pytest.mark.parametrize("scheme", ["onvif", "rtsp"])
def test_probe_wrong_password_says_so_without_a_traceback(sim, scheme):
    url = sim.onvif_url if scheme == "onvif" else sim.rtsp_url
    out = quaywatch("probe", url, password="wrong-one")
    assert out.returncode == 2
    assert "refused the credentials" in out.stderr
    assert "Traceback" not in out.stderr and "wrong-one" not in out.stderr


def test_discover_cli_unicast(sim):
    out = quaywatch("discover", "--target", f"127.0.0.1:{sim.discovery_port}", "--json", "--timeout", "1")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert [d["xaddrs"] for d in found] == [[f"http://127.0.0.1:{sim.onvif_port}/onvif/device_service"]]
    out = quaywatch("discover")  # no target, no opt-in: refuses rather than multicasting
    assert out.returncode == 2 and "--multicast" in out.stderr


@pytest.mark.parametrize("text", [
    "rtsp://admin:hunter2@10.1.2.3:554/stream",
    "cannot open 'rtsps://op:hunter2@cam.example/x': 401",
    "onvif://admin:hunter2@host:80 and rtsp://u:hunter2@h/",
])
def test_redact_masks_every_url_password(text):
    out = redact(text)
    assert "hunter2" not in out and ":***@" in out


def test_redact_masks_known_secrets_even_percent_encoded():
    url = with_credentials("rtsp://127.0.0.1:8554/stream", "admin", PASSWORD)
    assert url == "rtsp://admin:Quay%21pw%4042@127.0.0.1:8554/stream"
    assert PASSWORD not in redact(f"failed: {url}", PASSWORD)
    assert "Quay%21pw%4042" not in redact(f"failed: {url}", PASSWORD)
    assert redact("stream rtsp://127.0.0.1/x") == "stream rtsp://127.0.0.1/x"
