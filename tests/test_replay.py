"""`quaywatch replay` on committed clips of both bit depths, through the live path, and its errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quaywatch.config.recording import find_clips, load_ground_truth, sidecar_for
from quaywatch.edge.clips import ClipWriter, clip_info, read_frames
from quaywatch.evaluation.replay import replay

FIXTURES = Path(__file__).resolve().parents[1] / "recordings_fixtures"


def fixture_clip(suffix: str, positive: bool) -> Path:
    for clip in find_clips([FIXTURES]):
        if clip.suffix == suffix and bool(load_ground_truth(sidecar_for(clip)).events) is positive:
            return clip
    pytest.fail(f"recordings_fixtures has no {'positive' if positive else 'negative'} {suffix} clip")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quaywatch", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_replay_jsonl_on_a_fall_of_each_bit_depth(suffix):
    clip = fixture_clip(suffix, positive=True)
    truth = load_ground_truth(sidecar_for(clip))
    proc = run_cli("replay", str(clip), "--jsonl")
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert alerts, f"no alert on {clip.name}"
    for a in alerts:
        assert set(a) == {"kind", "t", "camera", "track_id", "bbox", "confidence"}
        assert a["camera"] == truth.camera
        assert a["kind"] in ("water_entry", "person_in_water")
        assert len(a["bbox"]) == 4 and 0 <= a["confidence"] <= 1
    # alert times are clip times: one lands in the eval window around the entry
    t0 = truth.events[0].t
    assert any(t0 - 1.0 <= a["t"] <= t0 + 10.0 for a in alerts), (t0, alerts)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_replay_reads_every_frame_with_the_right_dtype(suffix):
    clip = fixture_clip(suffix, positive=True)
    info = clip_info(clip)
    seen = []
    result = replay(clip, on_frame=lambda i, t, frame, res, alerts: seen.append(frame.dtype))
    assert result.frames == len(seen) > 0
    assert info.frames is None or abs(result.frames - info.frames) <= 1
    assert set(seen) == {np.dtype(np.uint16) if suffix == ".mkv" else np.dtype(np.uint8)}
    assert result.duration_s == pytest.approx(result.frames / info.fps, abs=1.5 / info.fps)


def test_replay_site_and_camera_override(tmp_path):
    clip = fixture_clip(".mp4", positive=False)
    truth = load_ground_truth(sidecar_for(clip))
    copy = tmp_path / "nosidecar.mp4"
    copy.write_bytes(clip.read_bytes())
    proc = run_cli("replay", str(copy))
    assert proc.returncode == 2
    assert "no sidecar nosidecar.json" in proc.stderr and "--site" in proc.stderr
    site = truth.site_path(sidecar_for(clip))
    proc = run_cli("replay", str(copy), "--site", str(site), "--camera", truth.camera)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("replay", str(copy), "--site", str(site), "--camera", "no-such-cam")
    assert proc.returncode == 2 and "has no camera 'no-such-cam'" in proc.stderr


def test_replay_of_a_damaged_or_missing_clip_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    (tmp_path / "bad.json").write_text(json.dumps({"site": str(FIXTURES / "sites" / "x.yaml"), "camera": "cam-1"}))
    for target in (bad, tmp_path / "missing.mp4"):
        proc = run_cli("replay", str(target), "--site", "demo", "--camera", "cam-1")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and str(target.name) in proc.stderr


def test_debug_video_has_one_overlay_frame_per_input_frame(tmp_path):
    clip = fixture_clip(".mp4", positive=True)
    out = tmp_path / "debug.mp4"
    proc = run_cli("replay", str(clip), "--debug", str(out))
    assert proc.returncode == 0, proc.stderr
    frames = list(read_frames(out))
    assert len(frames) == replay(clip).frames
    assert frames[0][1].dtype == np.uint8


def test_sixteen_bit_clip_round_trips_centikelvin(tmp_path):
    path = tmp_path / "c.mkv"
    rng = np.random.default_rng(0)
    frames = [(27315 + rng.integers(0, 3000, (48, 64))).astype(np.uint16) for _ in range(5)]
    with ClipWriter(path, fps=9, width=64, height=48, bit_depth=16) as w:
        for f in frames:
            w.write(f)
    back = [f for _, f in read_frames(path)]
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(frames, back, strict=True))
    assert clip_info(path).bit_depth == 16
