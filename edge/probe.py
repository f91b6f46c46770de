"""`quaywatch probe SOURCE`: what an engineer runs when commissioning a camera.

Device information and profiles (ONVIF), the chosen stream URI, then the stream itself: resolution,
pixel format and fps *measured* from the first frames (what the camera really sends, not what it
announces), and a snapshot saved to a file (the camera's own JPEG over ONVIF when it has one, else
the first decoded frame).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from quaywatch.config.capture import CaptureConfig
from quaywatch.edge.onvif_client import query_device
from quaywatch.edge.sources.base import FrameSource, RawFrame, SourceError
from quaywatch.edge.sources.redact import redact
from quaywatch.edge.sources.replay import ReplaySource
from quaywatch.edge.sources.rtsp import RtspSource
from quaywatch.edge.sources.sim import SimSource
from quaywatch.errors import QuaywatchError


def probe(source: str, *, password: str | None = None, profile: str | None = None, frames: int = 20,
          timeout_s: float = 10.0, snapshot: str | Path | None = None) -> dict:
    config = CaptureConfig(open_timeout_s=timeout_s, read_timeout_s=timeout_s, onvif_profile=profile)
    scheme = urlsplit(source).scheme if "://" in source else "file"
    report: dict = {"source": redact(source, password), "kind": scheme}
    jpeg: bytes | None = None
    if scheme == "onvif":
        device = query_device(source, password, profile=profile, timeout_s=timeout_s, snapshot=bool(snapshot))
        report["device"] = {"manufacturer": device.manufacturer, "model": device.model,
                            "firmware": device.firmware, "serial": device.serial}
        report["profiles"] = [vars(p) for p in device.profiles]
        report["profile"] = device.profile.token
        report["stream_uri"] = device.stream_uri
        report["snapshot_uri"] = device.snapshot_uri
        report["clock_offset_s"] = device.clock_offset_s
        jpeg = device.snapshot
        stream: FrameSource = RtspSource(device.stream_uri, config, user=device.address.split("//")[1].split("@")[0]
                                         if "@" in device.address else None, password=password)
    elif scheme in ("rtsp", "rtsps"):
        stream = RtspSource(source, config, password=password)
        report["stream_uri"] = redact(source, password)
    elif scheme == "sim":
        stream = SimSource(source, realtime=True)
    elif scheme not in ("file", ""):
        raise QuaywatchError(f"{redact(source, password)}: unknown source scheme {scheme!r}; use onvif://, "
                             "rtsp://, rtsps://, sim:// or a clip path")
    else:
        path = urlsplit(source).path if source.startswith("file://") else source
        stream = ReplaySource(path, realtime=True)
    report.update(_measure(stream, frames))
    if snapshot:
        report["snapshot"] = _save_snapshot(Path(snapshot), jpeg, report.pop("_first_frame"))
        report["snapshot_from"] = "camera" if jpeg else "stream"
    else:
        report.pop("_first_frame")
    return report


def _measure(stream: FrameSource, frames: int) -> dict:
    started = time.monotonic()
    try:
        stream.open()
    except SourceError as exc:
        raise QuaywatchError(_named(stream, exc)) from None
    opened = time.monotonic()
    got: list[tuple[float, RawFrame]] = []
    try:
        while len(got) < max(2, frames):
            try:
                got.append((time.monotonic(), stream.read()))
            except SourceError as exc:
                if got:
                    break  # a short clip: measure what there is
                raise QuaywatchError(_named(stream, exc)) from None
    finally:
        stream.close()
    first = got[0][1].frame
    return {
        "resolution": [int(first.shape[1]), int(first.shape[0])],
        "dtype": str(first.dtype),
        "fps_announced": round(stream.nominal_fps, 2) if stream.nominal_fps else None,
        "fps_measured": _fps(got),
        "frames_read": len(got),
        "open_s": round(opened - started, 3),
        "first_frame_s": round(got[0][0] - started, 3),
        "_first_frame": first,
    }


def _named(stream: FrameSource, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(stream.description) else f"{stream.description}: {text}"


def _fps(got: list[tuple[float, RawFrame]]) -> float | None:
    """From the stream's own clock when it has one (arrival times bunch up behind the opening handshake);
    else from arrival times, skipping the first frames that were buffered while opening."""
    pts = [raw.pts for _, raw in got if raw.pts is not None]
    if len(pts) >= 2 and pts[-1] > pts[0]:
        return round((len(pts) - 1) / (pts[-1] - pts[0]), 2)
    arrivals = [t for t, _ in got][len(got) // 2:]
    if len(arrivals) >= 2 and arrivals[-1] > arrivals[0]:
        return round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 2)
    return None


def _save_snapshot(path: Path, jpeg: bytes | None, frame: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if jpeg:
        path.write_bytes(jpeg)
        return str(path)
    if frame.dtype != np.uint8:  # radiometric: stretch to 8 bits for a picture a person can look at
        lo, hi = np.percentile(frame, (1, 99))
        frame = np.clip((frame.astype(np.float32) - lo) * 255.0 / max(float(hi - lo), 1.0), 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), frame):
        raise QuaywatchError(f"{path}: cannot write the snapshot (use a .jpg or .png name)")
    return str(path)


def format_report(r: dict) -> str:
    lines = [f"source      {r['source']}"]
    if "device" in r:
        d = r["device"]
        lines.append(f"device      {d['manufacturer']} {d['model']} firmware {d['firmware']} serial {d['serial']}")
        for p in r["profiles"]:
            mark = "*" if p["token"] == r["profile"] else " "
            lines.append(f"  {mark} profile {p['token']}: {p['encoding']} {p['width']}x{p['height']} @ {p['fps']} fps")
        lines.append(f"clock       camera {r['clock_offset_s']:+.1f} s from this host" if r.get("clock_offset_s")
                     is not None else "clock       unknown")
    if r.get("stream_uri"):
        lines.append(f"stream      {r['stream_uri']}")
    lines.append(f"resolution  {r['resolution'][0]}x{r['resolution'][1]} {r['dtype']}")
    lines.append(f"fps         {r['fps_measured']} measured over {r['frames_read']} frames"
                 f" (announced {r['fps_announced']})")
    lines.append(f"timing      opened in {r['open_s']} s, first frame after {r['first_frame_s']} s")
    if r.get("snapshot"):
        lines.append(f"snapshot    {r['snapshot']} (from the {r['snapshot_from']})")
    return "\n".join(lines)
