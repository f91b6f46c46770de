"""recordings_fixtures/README.md, written from the fixture list and the clips on disk so it never drifts."""

from __future__ import annotations

from pathlib import Path

from quaywatch.config.recording import load_ground_truth, sidecar_for
from quaywatch.edge.clips import clip_info
from quaywatch.simulator.suites import FIXTURE_LIST

HEAD = """# recordings_fixtures — simulated thermal clips with ground truth

Every clip here is **fully synthetic**, rendered by the project's simulator (`quaywatch simulate`,
`simulator/`); nothing from `../shared` (real footage) is committed. Each clip `<stem>.mp4|.mkv` has its
ground truth beside it in `<stem>.json` (`site` relative to the sidecar, `camera`, `events`,
`description`; plus the simulator's `scenario`, `seed`, `tags`).

- 8-bit clips: MP4 H.264 grey, AGC-scaled like a thermal camera's video output (the AGC follows the
  hottest pixels, so a hot engine entering the view darkens everything else).
- 16-bit clips: MKV FFV1 gray16le, radiometric centikelvin (K x 100). Lossless 16-bit sensor noise costs
  ~14 KB a frame even at 160x120, so these use the small radiometric camera of `sites/lepton-sim.yaml`.
- `water_entry` t = the moment the falling body's centre crosses the quay line (solved exactly by the
  simulator); `person_in_water` t = the first frame a swimmer is visible. No events = a negative clip.

## Sites (synthetic geometries, `sites/`)

| file | camera | size | view |
|---|---|---|---|
| aalborg-sim.yaml | cam-1 | 384x288 | the Aalborg harbourfront camera's geometry: quay edge (15,0)->(152,287), water on the left |
| aalborg-sim.yaml | cam-1-half | 192x144 | the same view at half resolution, for the long 2 fps negatives |
| pier-sim.yaml | cam-2 | 640x512 | a pier: bent 4-point quay line across the image, water above it, a mast and a rope excluded |
| pier-sim.yaml | cam-2-half | 320x256 | the same view at half resolution, for the long 2 fps negatives |
| lepton-sim.yaml | cam-3 | 160x120 | a small radiometric camera on a footbridge: water below the quay line; 16-bit clips |

## Regenerate

```sh
quaywatch simulate suite fixtures                      # rewrites every clip, sidecar and this README exactly
quaywatch simulate suite long-negatives --out DIR      # 6 more hours of negatives (3 fps, 384x288), on demand
quaywatch simulate suite heldout --out DIR             # held-out views/seeds/seasons: never tune the detector on it
quaywatch simulate suite aalborg-plate --out DIR       # clips on the real Aalborg frames from ../shared (never commit)
quaywatch simulate --scenario fall --site recordings_fixtures/sites/aalborg-sim.yaml --camera cam-1 \\
    --seed 7 --seconds 30 --bits 8 --out /tmp/fall.mp4 --contact-sheet /tmp/fall.png    # one clip, and a look at it
```

## What the simulator models, and what it does not

Modelled: water colder than the paving (summer nights: the paving stays warmer than the water), a wet quay
wall, ripples, bollards, benches and lamp posts; people in perspective (1.75 m = ~24 px near the Aalborg
quay, as in the real LTD frames) walking, standing, sitting at the edge, in groups; falls (tip and drop
0.4-1 s, splash at water temperature, a ~25-30 °C head that bobs, drifts and may sink); swimmers; gulls,
ducks (some diving), boats with hot engines and wakes; reflections on wet paving and on the water; ropes
and masts in the cameras' `exclude` zones; rain; NETD noise, fixed-pattern noise, offset drift, NUC
freezes with an offset step; an 8-bit AGC that follows the hottest pixels.
Not modelled: fog, snow, sun glint on the water, lens flare, camera shake, occlusion of a fall by a boat,
people climbing down ladders, dogs, bicycles and cars; body shapes are ellipses, not articulated people.
Treat the synthetic clips as a regression net; the real frames in ../shared are the reality check.

Frames depend only on (site camera, scenario, seed, seconds, fps, bits, season, day/night): the same
command renders the same frames (checked across processes). The files are not always byte-identical:
MKV headers carry the muxing date (the decoded 16-bit frames are identical), and multi-threaded x264 has
produced different bytes for the same frames of the 20-minute clips between runs (short clips came out
byte-identical), so an 8-bit clip matches within H.264 loss. A test re-renders fixtures and compares them
with the committed clips.
"""


def write_readme(directory: Path) -> Path:
    rows, total_bytes, frames, neg_s, positives, events = [], 0, 0, 0.0, 0, 0
    for fx in FIXTURE_LIST:
        clip = directory / fx.filename
        info = clip_info(clip)
        truth = load_ground_truth(sidecar_for(clip))
        total_bytes += clip.stat().st_size
        seconds = info.duration_s or fx.spec.seconds  # MKV streams state no frame count: the spec's length
        frames += info.frames or round(seconds * fx.spec.fps)
        if truth.events:
            positives += 1
            events += len(truth.events)
        else:
            neg_s += seconds
        ev = ", ".join(f"{e.kind} {e.t:.2f} s" for e in truth.events) or "none (negative)"
        rows.append(f"| {fx.filename} | {fx.spec.bits} | {fx.spec.fps:g} | {seconds:g} | {fx.spec.scenario} "
                    f"({fx.spec.season} {'night' if fx.spec.night else 'day'}) | {ev} | {fx.proves} |")
    summary = (f"\n## The clips\n\n{len(FIXTURE_LIST)} clips, {positives} positive clips with {events} events, "
               f"{neg_s / 3600:.2f} negative camera-hours, {frames} frames, {total_bytes / 1e6:.1f} MB.\n\n"
               "| file | bits | fps | seconds | scenario | events | what it proves |\n|---|---|---|---|---|---|---|\n")
    out = directory / "README.md"
    out.write_text(HEAD + summary + "\n".join(rows) + "\n", encoding="utf-8")
    return out
