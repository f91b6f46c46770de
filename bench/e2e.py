"""End-to-end latency: a fall in the camera's frames -> the SMS request leaving for Twilio, through every
real part (simulated ONVIF/RTSP camera, `quaywatch edge`, Mosquitto, `quaywatch alerting`, a loopback
Twilio stand-in). Printed beside the detector's own decision delay measured in the same run: the ratio
says how much the plumbing adds to what the detector needs to be sure.

    .venv/bin/python bench/e2e.py [--falls 4]      # a fall about every minute: ~1 min per fall

Needs Mosquitto and GStreamer's RTSP server (see .ci/system-deps.sh).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the harness lives with the tests

from tests.harbour import Harbour  # noqa: E402
from tests.peers import MqttRecorder  # noqa: E402

WINDOW_S = 30.0  # a page later than this after a fall is not this fall's page
EARLY_S = 1.0  # as in eval: the deciding frame may be stamped up to 1 s before the truth's moment


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--falls", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        harbour = Harbour(Path(tmp)).start()
        recorder = MqttRecorder(harbour.mosquitto.port, topic="quaywatch/+/+/events", client_id="bench-e2e")
        try:
            falls = harbour.wait_for_falls(args.falls + 1, timeout=90 * (args.falls + 1))[: args.falls + 1]
            time.sleep(WINDOW_S)  # let the last fall's page arrive
            events = [p for p in recorder.payloads("/events") if p["kind"] in ("water_entry", "person_in_water")]
            sms = harbour.sms()
        finally:
            recorder.close()
            harbour.stop()
    # The first fall may happen while the edge is still connecting; judge the steady state after it.
    falls = falls[1:]
    decision, paged, missed = [], [], 0
    for fall in falls:
        ev = [e for e in events if -EARLY_S <= epoch(e["time"]) - fall <= WINDOW_S]
        page = [r["wall"] for r in sms if -EARLY_S <= r["wall"] - fall <= WINDOW_S]
        if not ev or not page:
            missed += 1
            print(f"fall at {fall:.2f}: {'no event' if not ev else 'no page'}; events at "
                  f"{[round(epoch(e['time']) - fall, 2) for e in events]} s, pages at "
                  f"{[round(r['wall'] - fall, 2) for r in sms]} s relative to it")
            continue
        decision.append(epoch(min(ev, key=lambda e: e["time"])["time"]) - fall)
        paged.append(min(page) - fall)
    print(f"falls {len(falls)}, paged {len(paged)}, missed {missed}")
    if not paged:
        print("no fall was paged: nothing to measure", file=sys.stderr)
        return 1
    d50, p50 = statistics.median(decision), statistics.median(paged)
    print(f"detector decision delay (fall -> deciding frame):  median {d50:.2f} s   p99 {pct(decision, 99):.2f} s")
    print(f"end to end (fall -> SMS request sent):            median {p50:.2f} s   p99 {pct(paged, 99):.2f} s")
    print(f"plumbing after the decision (camera, RTSP, edge, MQTT, alerting): median {p50 - d50:.2f} s")
    print(f"ratio end-to-end / decision: median {p50 / d50 if d50 > 0 else float('inf'):.2f}x")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
