"""When a track is an alert: the crossing rule, the in-water rule, and what suppresses them.

- Sides: a track's ground point (box bottom-centre) is `land`, `edge` (within `edge_margin` person heights
  of the quay line) or `water` (past the band, inside the water polygon, and the box top over the water
  too: a sitter's legs dangle over the edge, his head does not).
- water_entry: a track seen on the land side (a bare head up to a whole person, moving no faster than a
  runner) moves at least MIN_FALL_MOVE (or its ground point MIN_GROUND_MOVE) and crosses to the water side
  at a fall's pace (FALL_MIN_SPEED). It alerts once it is a head-sized, warm body there for
  `entry_confirm_s`, or at once when it vanishes there (went under). A falling body often gets a new id (it
  changes shape faster than any walker); a person lost at the edge and a body in the water next to that
  spot within `handoff_s` are the same fall (hand-off).
- person_in_water: a warm body in the water with no crossing seen, after `in_water_confirm_s`, unless it
  is too big or too tall (boat, someone standing behind the line, a cold-legged walker's upper body just
  past it), too fast (boat, gull), too low or flat (duck), too faint (ripple, glint), too cool (radiometric
  °C; 8-bit: relative to the people seen), too hot (engine), or it mirrors a person standing on land (a
  reflection: next to him, or hanging below his feet); and never for something that was on the water
  `in_water_onset_s` without once looking like a person, nor in 8-bit where people are shorter than
  `in_water_min_person_px`.
- One alert per incident: an alert opens an incident at its place; a later candidate near a live incident
  only refreshes it. A new incident elsewhere, or after `incident_memory_s`, alerts again; a crossing from
  land is always a new person (two people can fall in at the same spot), unless an alert next to it opened
  at most CROSSING_JOINS_S before it (the same fall, seen through another of its tracks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quaywatch.config.detector import DetectorTuning
from quaywatch.detector import explain, tracker
from quaywatch.detector.geometry import SceneGeometry
from quaywatch.detector.tracker import TrackState
from quaywatch.detector.types import AlertKind, Detection

LAND, EDGE, WATER = "land", "edge", "water"
INCIDENT_RADIUS = 3.0  # person heights
INCIDENT_DRIFT = 0.25  # person heights per second unseen (a current of ~0.4 m/s)
INCIDENT_MAX_DRIFT = 2.0  # person heights
CROSSING_JOINS_S = 5.0  # an alert next to a crossing, opened at most this long before it, was that same person
LAND_MAX_SPEED = 3.0  # person heights per second: a runner; a gull flies at 5+
LAND_MAX_SIZE = 3.0  # person heights: bigger on land is a car, a group, a boat along the quay; generous,
# because the default perspective (frame height / 24 .. / 8) can be off by 2x on a camera nobody measured
WARM_AS_LAND = 0.5  # a body in the water is at least this fraction as warm as the person was on land
MIN_FALL_MOVE = 0.3  # person heights the body must move from where it stood on land: static things cannot fall
MIN_GROUND_MOVE = 0.5  # person heights the box's bottom must move instead: a fall from standing at the very edge
FALL_MIN_SPEED = 0.4  # person heights per second at the crossing: a fall, a step or a jump is quick (measured
# falls cross at 0.6-6); a warm thing that sat at the edge for seconds and shifts a pixel is not falling in
WATER_MAX_HEIGHT = 0.4  # person heights: head and shoulders, an arm raised
WATER_MAX_ASPECT = 1.5  # height / width: taller and narrower is an upright body, not a head in the water
BIRD_MAX_WIDTH = 0.35  # person heights: a flat blob narrower than this is a duck or a gull afloat
REFLECTION_RADIUS = 1.6  # person heights between a water blob and the land person it mirrors
# The water is a mirror some way below the quay top: a standing person's head shows again up to this many
# person heights below his feet (sim: 1.6; a 1-2 m quay wall puts it further), and roughly straight below.
REFLECTION_DEPTH = 2.5
REFLECTION_SIDEWAYS = 0.6
HIP_HEIGHT = 0.55  # person heights from the feet to the hips: the lowest warm point of cold-legged walker
TORSO_MAX_WIDTH = 0.5  # person heights: shoulders and swinging arms; a head with its splash or wake is wider
PERSON_WARMTH_DECAY = 0.9999  # per frame: forgets a warm passer-by over tens of minutes
# Nothing is a person until it has behaved like one: its smoothed centre wandered at least this many person
# heights (and MOTION_MIN_PX) from where it was first seen. A lamp head, a bollard, a glint or a moored boat
# stays within its noise jitter however long it is watched; a walker walks, a swimmer swims and drifts.
BEHAVED_MOVE = 0.25
MOTION_MIN_PX = 2.0
MOTION_SMOOTH = 0.3
MOTION_MAX_STEP = 0.5  # person heights a frame: a longer step is the track taking another blob, not motion
# What is warm in the first moments after the detector starts or re-baselines (an AGC jump, a NUC) was there
# before anyone watched: it has to behave like a person before it can be one. So has anything born inside
# the box of such a static thing, there now or lately (a lamp's blob that flickers in two, a glint that
# comes and goes), or at the picture's border (cut off by it, or come in from outside: it has to move in);
# something new beside a static thing, inside the picture, has not.
START_EPOCH_S = 0.6
SCENERY_MEMORY_S = 10.0  # weight of each new centre in the smoothed one: sensor noise shakes a blob's edge pixels
# A fall over the near edge, from a camera on the same side, shows no crossing: the wall hides the water at
# its foot. The body's top drops at a fall's pace towards the quay line while its bottom stays on the line (the
# edge cuts it off), and then it is gone: a body sinking out of sight behind the edge.
SINK_MIN_STANDING = 0.6  # person heights: seen standing as a whole person before he sank
SINK_MIN_DROP = 0.3  # of the standing height: the top dropped at least this far
SINK_MAX_LEFT = 0.6  # of the standing height: at most this much of him still shows over the edge
SINK_MIN_SPEED = 0.8  # person heights per second: falling, not sitting down (0.3-0.5)
SINK_ON_LINE = 0.35  # person heights beyond edge_margin: the box's bottom is cut off by the quay line
SINK_GONE_S = 0.7
SINK_GONE_WARMTH = 0.3  # of his warmth on land: what is left at the edge is a wet, cooling remnant, not him
SINK_MIN_GROWTH = 0.4  # area ratio a frame: a body is hidden progressively; a hop to a speck of it is no fall  # the warm body must be gone within this long after it sank
WATER_MEMORY_S = 5.0  # a water track lost this recently hands its record to a new one born next to it
WATER_MEMORY_RADIUS = 1.0  # person heights


@dataclass(slots=True)
class WaterRecord:
    """What a lost water track had shown, for the track that takes its place (ids break, evidence must not)."""

    t: float
    point: np.ndarray
    body_frames: int
    water_frames: int
    first_water_t: float
    excursion: float  # how far it had wandered (person heights): a swimmer's new id has still behaved


@dataclass(slots=True)
class Departure:
    """A person lost at the quay edge: maybe they fell and the splash hid them."""

    t: float
    frame_index: int
    point: np.ndarray
    height: float  # person height there, px: the larger of the perspective's and the track's own
    land_height: float
    land_peak: float  # how warm the person was on land, noise sigmas


@dataclass(slots=True)
class Incident:
    point: np.ndarray
    last_seen: float
    kind: AlertKind  # what opened it
    opened: float


@dataclass(slots=True)
class FrameContext:
    t: float
    frame_index: int
    radiometric: bool
    hot_level: float  # warmest thing in view, water-noise sigmas (8-bit relative warmth reference)
    quiet: bool  # a frame the warmth model re-baselined: track, but do not start alerts on it


class AlertRules:
    def __init__(self, geometry: SceneGeometry, tuning: DetectorTuning):
        self.geo = geometry
        self.tuning = tuning
        self.departures: list[Departure] = []
        self.last_sides: dict[int, str] = {}
        # How warm people on this quay look, in water-noise sigmas (AGC-proof): 8-bit frames have no
        # temperatures, so 'warm like a head' means 'warm like the people we have seen', slowly forgotten.
        self.person_warmth = 0.0  # track id -> side, of the tracks seen in the last frame
        self.incidents: list[Incident] = []
        self.water_records: list[WaterRecord] = []
        self.epoch_t: float | None = None  # when the detector last started or re-baselined
        self.scenery: dict[int, tuple[float, tuple]] = {}  # track id -> (last seen, box) of static things

    # ------------------------------------------------------------------------------------------------
    def sides(self, tracks: list[TrackState]) -> tuple[list[str], np.ndarray]:
        """land / edge / water for each track from its ground point, and the person height there."""
        if not tracks:
            return [], np.zeros(0)
        boxes = np.array([tr.box for tr in tracks])
        centre_x = boxes[:, 0] + boxes[:, 2] / 2.0
        anchors = np.column_stack([centre_x, boxes[:, 1] + boxes[:, 3]])  # TrackState.anchor, all at once
        tops = np.column_stack([centre_x, boxes[:, 1]])  # TrackState.top
        e = self.geo.person_height(anchors[:, 1])
        margin = self.tuning.edge_margin * e
        d_anchor = self.geo.water_distance(anchors)
        d_top = self.geo.water_distance(tops)
        wet = self.geo.in_water(anchors)
        water = wet & (d_anchor > margin) & (d_top > 0)
        land = d_anchor < -margin
        return [WATER if w else LAND if ld else EDGE for w, ld in zip(water, land, strict=True)], e

    def step(self, alive: list[TrackState], lost: list[TrackState], ctx: FrameContext) -> list[Detection]:
        out: list[Detection] = []
        if self.epoch_t is None or ctx.quiet:
            self.epoch_t = ctx.t
        seen = [tr for tr in alive if tr.last_frame == ctx.frame_index]
        sides, heights = self.sides(seen)
        self.last_sides = {tr.id: side for tr, side in zip(seen, sides, strict=True)}
        self._mark_scenery(seen, self.last_sides, ctx)
        land_people = [(tr, e) for tr, s, e in zip(seen, sides, heights, strict=True) if s == LAND]
        for tr, side, e in zip(seen, sides, heights, strict=True):
            self._observe(tr, side, e, ctx)
            self._weigh(tr, side, e, ctx, land_people)
            det = None if ctx.quiet else self._decide(tr, side, e, ctx, land_people)
            if det is not None:
                out.append(det)
        for tr in lost:
            det = self._on_lost(tr, ctx)
            if det is not None:
                out.append(det)
        self._refresh_incidents(seen, ctx.t)
        self.person_warmth *= PERSON_WARMTH_DECAY
        self.departures = [d for d in self.departures if ctx.t - d.t <= self.tuning.handoff_s]
        self.water_records = [r for r in self.water_records if ctx.t - r.t <= WATER_MEMORY_S]
        return [d for d in out if d.confidence >= self.tuning.alert_confidence]

    # ------------------------------------------------------------------------------------------------
    @staticmethod
    def _observe_motion(tr: TrackState, e: float) -> None:
        """How far the track has wandered from where it was born (smoothed, person heights)."""
        if math.hypot(*tr.last_step) > MOTION_MAX_STEP * e:  # hopped to another blob: not the thing moving
            tr.motion_anchor += tr.last_step
            tr.motion_point += tr.last_step
        tr.motion_point += MOTION_SMOOTH * (tr.centroid - tr.motion_point)
        d = math.hypot(*(tr.motion_point - tr.motion_anchor))
        if d >= MOTION_MIN_PX:
            tr.excursion = max(tr.excursion, d / e)

    @staticmethod
    def behaved(tr: TrackState) -> bool:
        """Moved like something alive since it was first seen, or was not there at a start; scenery that has
        stood still since the detector started (or re-baselined) never does."""
        return not tr.scenery_born or tr.excursion >= BEHAVED_MOVE

    def _mark_scenery(self, seen: list[TrackState], sides: dict[int, str], ctx: FrameContext) -> None:
        """Tracks born at a start epoch, or next to a static thing from one, must behave before they count."""
        in_epoch = ctx.t - self.epoch_t < START_EPOCH_S
        for tr in seen:
            if tr.hits != 1:
                continue
            x, y, w, h = (float(v) for v in tr.box)
            rows, cols = self.geo.shape
            at_border = (x <= 1 or y <= 1 or x + w >= cols - 1 or y + h >= rows - 1) and sides.get(tr.id) == WATER
            if in_epoch or at_border:  # (at the border, on the water, it did not appear: it is cut off by the
                # picture or came in from outside; a walker coming in on land is judged by how he walks)
                tr.scenery_born = True
                continue
            cx, cy = float(tr.centroid[0]), float(tr.centroid[1])
            tr.scenery_born = any(x - 2 <= cx <= x + w + 2 and y - 2 <= cy <= y + h + 2
                                  for _, (x, y, w, h) in self.scenery.values())
        for tr in seen:
            if tr.scenery_born and tr.excursion < BEHAVED_MOVE:
                self.scenery[tr.id] = (ctx.t, tuple(float(v) for v in tr.box))
            else:
                self.scenery.pop(tr.id, None)
        self.scenery = {k: v for k, v in self.scenery.items() if ctx.t - v[0] <= SCENERY_MEMORY_S}

    def _observe(self, tr: TrackState, side: str, e: float, ctx: FrameContext) -> None:
        if not tr.born_side:
            tr.born_side = side
        self._observe_motion(tr, e)
        height = float(tr.box[3])
        # On land, a person is anything from a bare head (winter clothes can be as cold as the paving) to a
        # standing body, moving no faster than a runner: gulls are as small as a head but fly at 5+ heights/s.
        sized = self.tuning.water_min_size * e <= height <= LAND_MAX_SIZE * e and tr.box[2] <= LAND_MAX_SIZE * e
        slow = math.hypot(*tr.velocity) <= LAND_MAX_SPEED * e
        # Right at the edge, an upright person-sized body stands on the quay (a walker along the edge who then
        # falls in) when his head is over the quay; or, once he has been a person on land, while his feet stay
        # on its side of the line: from a camera behind the near quay, looking across, the head of someone
        # standing at the very edge shows over the water. A boat's hull is wide and low; a reflection is upside
        # down, and one on wet paving under a walker never walked there from the land as a person itself.
        upright = height >= self.tuning.person_min_height * e and height >= 1.5 * tr.box[2]
        on_quay = side == EDGE and upright and (  # (the distances only for the few upright bodies at the edge)
            float(self.geo.water_distance(tr.top[None])[0]) < -0.1 * e
            or (tr.land_person_t is not None and float(self.geo.water_distance(tr.anchor[None])[0]) <= 0.0))
        if (side == LAND or on_quay) and sized and slow and tr.hits >= 3:
            tr.land_person_t = ctx.t
            tr.land_point = tr.centroid.copy()
            tr.land_anchor = tr.anchor
            tr.land_height = max(tr.land_height, height / e)
            if height >= 0.8 * tr.land_height * e and tr.sank_t is None:  # as tall as he stands
                tr.land_top, tr.stand_t, tr.sink_frames = float(tr.box[1]), ctx.t, 0
                tr.stand_behaved = self.behaved(tr)
            tr.land_peak = max(tr.land_peak, tr.peak)
            if height >= self.tuning.person_min_height * e:
                self.person_warmth = max(tr.peak, self.person_warmth)
        self._observe_sinking(tr, side, e, ctx)
        if side == LAND:
            tr.exit_peak = 0.0
        else:  # how warm it stayed since it left the land side: the falling body, before the splash cools it
            tr.exit_peak = max(tr.exit_peak, tr.peak)
        if side == WATER:
            if tr.water_frames == 0 and tr.born_side == WATER:  # (one that came over the line from the
                self._take_over_record(tr, e)  # quay, warm or cool, is not a duck's blob split in two)
            tr.water_frames += 1
            tr.water_height = max(tr.water_height, height / e)
            tr.water_peak = max(tr.water_peak, tr.peak)
            if tr.first_water_t is None:
                tr.first_water_t = ctx.t
            # Static things cannot fall: the body's centre moved, or its ground point did (someone standing
            # right at the edge who topples away from the camera keeps his head where it was in the picture
            # and moves his centre little, but his feet leave the quay and only his head is left, in the water).
            moved = tr.land_point is not None and (
                math.hypot(*(tr.centroid - tr.land_point)) >= MIN_FALL_MOVE * e
                or (math.hypot(*(tr.anchor - tr.land_anchor)) >= MIN_GROUND_MOVE * e and self._inside_view(tr))
            )  # (a box cut by the picture's border or an exclude zone moves its bottom without going anywhere)
            cut = self.geo.touches_exclude(tr.box, 0.3 * e)  # half hidden by a rope or mast: shape lies
            falling = math.hypot(*tr.velocity) >= FALL_MIN_SPEED * e
            # and the step over the line is the body moving, not the track taking another, bigger blob beyond it
            # (a falling body shrinks to a head as it goes in, and its centre jumps with it: that is no hop)
            hop = (math.hypot(*tr.last_step) > max(MOTION_MAX_STEP, tracker.MAX_SPEED * tr.last_dt) * e
                   and tr.last_growth > tracker.SHAPE_JUMP)
            if hop and tr.crossed_t is None:
                tr.land_person_t = None  # this blob is not the one that stood on land: it has no such past
            if (tr.crossed_t is None and tr.land_person_t is not None and moved and falling and not cut
                    and self.behaved(tr)):
                tr.crossed_t, tr.crossed_frame = ctx.t, ctx.frame_index
        elif tr.crossed_t is not None and side == LAND:
            # stepped back: a wobble at the edge; if it had alerted, a new crossing is a new incident
            tr.crossed_t, tr.water_frames, tr.alerted = None, 0, False

    def _observe_sinking(self, tr: TrackState, side: str, e: float, ctx: FrameContext) -> None:
        """Dropping out of sight behind the quay edge: the top falls fast towards the line, the bottom stays
        on it (see SINK_*). Judged against how he stood when last seen on land as a person."""
        top, prev_top, tr.prev_top = float(tr.box[1]), tr.prev_top, float(tr.box[1])
        if tr.stand_t is None or tr.stand_t == ctx.t or tr.crossed_t is not None or tr.sank_t is not None:
            return
        # A body goes down over frames; a blob that flickers to a fragment of itself jumps in one. And it was a
        # person (had behaved like one) while it still stood: the jump to a fragment is no behaviour.
        tr.sink_frames = tr.sink_frames + 1 if top > prev_top and tr.last_growth >= SINK_MIN_GROWTH else 0
        if tr.sink_frames < 2 or not tr.stand_behaved or tr.land_height < SINK_MIN_STANDING:
            return
        standing = tr.land_height * e
        drop = float(tr.box[1]) - tr.land_top
        dt = max(ctx.t - tr.stand_t, 1e-3)
        on_line = abs(float(self.geo.water_distance(tr.anchor[None])[0])) <= (self.tuning.edge_margin + SINK_ON_LINE) * e
        if (on_line and drop >= SINK_MIN_DROP * standing and drop / dt >= SINK_MIN_SPEED * e
                and tr.box[3] <= SINK_MAX_LEFT * standing):
            tr.sank_t, tr.sank_frame = ctx.t, ctx.frame_index
            explain.add(tr.explain, 0.0, (True, False, False, False, False))  # went down at a fall's pace

    def _gone_behind_edge(self, tr: TrackState, ctx: FrameContext, lost: bool) -> bool:
        """It sank behind the edge and is gone: lost, or only a cold remnant (wet paving, spray) left."""
        if tr.sank_t is None or tr.last_t - tr.sank_t > SINK_GONE_S or not self._inside_view(tr):
            return False
        return lost or tr.peak < SINK_GONE_WARMTH * tr.land_peak

    def _decide(self, tr, side, e, ctx, land_people) -> Detection | None:
        if tr.alerted:
            return None
        if self._gone_behind_edge(tr, ctx, lost=False):
            conf = 0.5 + 0.25 * min(1.0, tr.land_height) + 0.1
            return self._alert("water_entry", tr, ctx, conf, tr.sank_frame, crossed_t=tr.sank_t)
        if tr.crossed_t is not None:
            confirmed = ctx.t - tr.crossed_t >= self.tuning.entry_confirm_s and tr.water_frames >= 2
            # In the water only head and shoulders show. Someone at the edge whose legs are as cold as the
            # paving shows only an upper body, which can look 'over the water' from a camera behind them.
            # At least a head (water_min_size), and 2 px: far out a head is 2-3 px, which a further +1 px for
            # blur (as for bodies nobody saw arrive) refused; a crossing is evidence enough for the rest.
            big_enough = tr.box[3] >= max(self.tuning.water_min_size * e, 2.0)
            confirmed = confirmed and big_enough and self._head_sized(tr, e)
            confirmed = confirmed and tr.peak >= 0.5 * self.tuning.head_min_sigma
            # and what went in is no bigger than what stood on land (a walker's blob growing over the edge as
            # he comes closer is not a fall)
            confirmed = confirmed and tr.box[3] <= 1.25 * max(tr.land_height, self.tuning.water_min_size) * e + 2
            # a head in the water is about as warm as the person was on land; a reflection on the water is not
            confirmed = confirmed and tr.peak >= WARM_AS_LAND * tr.land_peak
            if tr.land_height < self.tuning.person_min_height:
                # only a head was seen on land: it must also stop like a body in water does (a gull flies on)
                # and look like a head in the water by every measure
                confirmed = confirmed and math.hypot(*tr.velocity) <= 2 * self.tuning.water_max_speed * e
                confirmed = confirmed and self._body_like(tr, e, ctx, land_people, strict=False)
            if side == WATER and confirmed and max(tr.box[2], tr.box[3]) <= LAND_MAX_SIZE * e:
                conf = 0.55 + 0.25 * min(1.0, tr.land_height) + 0.2 * min(1.0, tr.water_frames / 4)
                # a crossing from land is a new person: folded only into an alert opened around its crossing
                return self._alert("water_entry", tr, ctx, conf, tr.crossed_frame, crossed_t=tr.crossed_t)
            return None
        if side != WATER or tr.land_person_t is not None:
            return None
        handoff = self._handoff(tr, ctx)
        warm_enough = handoff is not None and tr.peak >= WARM_AS_LAND * handoff.land_peak
        # As warm as that walker was, the warmth that matters (as for a crossing): a faint, well-wrapped person
        # leaves a head fainter than head_min_sigma, and the absolute floor is halved as for a crossing.
        if warm_enough and tr.hits >= 2 and self._body_like(tr, e, ctx, land_people, strict=False,
                                                            min_sigma=0.5 * self.tuning.head_min_sigma):
            conf = 0.5 + 0.25 * min(1.0, handoff.land_height) + 0.25 * min(1.0, tr.hits / 4)
            return self._alert("water_entry", tr, ctx, conf, handoff.frame_index)
        if not ctx.radiometric and e < self.tuning.in_water_min_person_px:
            # 8-bit and so far out that a head is 2-3 px: it has no shape, and where the AGC paints everything
            # warm white a duck is as bright as a head. Nothing but a crossing (or a hand-off) tells them apart.
            return None
        body_now = self._body_like(tr, e, ctx, land_people, strict=True)
        first = tr.first_water_t if tr.first_water_t is not None else tr.born_t
        if tr.body_frames == 0 and ctx.t - first > self.tuning.in_water_onset_s:
            # On the water this long and never once like a person: a duck, a buoy, flotsam. It does not turn
            # into one later when the AGC or the light on it changes (a person in the water looks like one as
            # soon as he is in view, or once the splash settles). Kept through a dive: the record carries over.
            tr.not_a_person = True
        tr.body_frames += body_now
        if tr.not_a_person:
            return None
        if not body_now or ctx.t - first < self.tuning.in_water_confirm_s:
            return None
        if not self.behaved(tr):  # static since it was first seen: scenery (a lamp's head, a glint, a buoy)
            return None
        frames = ctx.frame_index - tr.born_frame + 1
        if tr.hits < max(2, 0.6 * frames):  # flickers in and out: rain, glints, a wave crest; and seen twice
            return None  # itself, whatever record it took over (one frame of a gull landing is no body that stays)
        if tr.body_frames < max(2, 0.4 * tr.water_frames):
            return None  # mostly not a person, once looking like one: a duck crossing a threshold for a moment
        conf = 0.5 + 0.25 * min(1.0, (ctx.t - first) / (2 * self.tuning.in_water_confirm_s)) + 0.25 * min(
            1.0, tr.hits / max(frames, 1)
        )
        return self._alert("person_in_water", tr, ctx, conf, tr.born_frame)

    def _body_like(self, tr, e, ctx, land_people, strict: bool, min_sigma: float | None = None) -> bool:
        """Could this water track be a person: size, speed, warmth, not a reflection of someone on land.
        `min_sigma`: the warmth floor when the warmth was already judged against the person seen on land."""
        tun = self.tuning
        side = float(max(tr.box[2], tr.box[3]))
        if side > tun.water_max_size * e:  # boat, or a big warm patch
            return False
        # Lower than a head above the water: a ripple, a glint. A head and neck stand ~0.25 m out of the water,
        # about water_min_size of a person: the box is judged against that alone, and at least 2 px. (A further
        # px 'for blur' refused most swimmers out where a person is 20-30 px: their heads show 3-4 px tall.)
        if tr.box[3] < max(tun.water_min_size * e, 2.0):
            return False
        if not self._head_sized(tr, e):
            return False
        if tr.box[2] >= 1.5 * tr.box[3] and tr.box[2] <= BIRD_MAX_WIDTH * e:  # small and flat: a bird afloat
            return False
        duration = max(tr.last_t - tr.born_t, 1e-3)
        net = math.hypot(*(tr.centroid - tr.start_centroid)) / duration
        speed = max(net, math.hypot(*tr.velocity) * 0.5) / e
        if tr.hits >= 3 and speed > tun.water_max_speed:  # boat, gull
            return False
        if tr.peak < (tun.head_min_sigma if min_sigma is None else min_sigma):  # faint: a glint, a lamp's reflection
            return False
        if ctx.radiometric:
            if not (tun.head_min_c <= tr.peak_raw <= tun.hot_max_c):
                return False
        elif tr.peak < tun.head_min_contrast * max(self.person_warmth, ctx.hot_level):
            return False  # 8-bit: cooler than the people here are (ducks, reflections), relative, AGC-proof
        if strict:
            # The warm upper body of someone standing on the quay, legs as cold as the paving, from a camera
            # looking over him: taller than a head, narrower than a splash, its bottom within a hip height past the line.
            torso = tr.box[3] > WATER_MAX_HEIGHT * e + 2 and tr.box[2] <= TORSO_MAX_WIDTH * e
            if torso and float(self.geo.water_distance(tr.anchor[None])[0]) <= HIP_HEIGHT * e:
                return False
            if self._mirrors(tr, land_people):
                return False  # the mirror image of someone standing at the edge
        return True

    def _mirrors(self, tr: TrackState, land_people) -> bool:
        """Could be the mirror image of someone standing at the edge: next to him or hanging below his feet,
        and no warmer than he is."""
        for person, pe in land_people:
            near = math.hypot(*(person.anchor - tr.centroid)) < REFLECTION_RADIUS * pe
            # His feet are a person height below his head even when his legs are as cold as the paving
            # and only his upper body shows; his mirror image hangs below them.
            feet_y = max(float(person.anchor[1]), float(person.box[1]) + pe)
            dx, dy = float(tr.centroid[0] - person.anchor[0]), float(tr.centroid[1]) - feet_y
            below = abs(dx) <= REFLECTION_SIDEWAYS * pe and -0.3 * pe <= dy <= REFLECTION_DEPTH * pe
            if (near or below) and person.peak >= tr.peak and person.box[3] >= self.tuning.person_min_height * pe:
                return True
        return False

    def _weigh(self, tr: TrackState, side: str, e: float, ctx: FrameContext, land_people) -> None:
        """This frame's evidence for each explanation of the track (explain.py), on the water side only."""
        if side != WATER:
            return
        size = float(max(tr.box[2], tr.box[3]))
        speed = math.hypot(*tr.velocity) / e
        behaved = self.behaved(tr)
        person = behaved and self._body_like(tr, e, ctx, land_people, strict=True,
                                             min_sigma=0.5 * self.tuning.head_min_sigma)
        scenery = not behaved
        reflection = self._mirrors(tr, land_people)
        flat = tr.box[2] >= 1.5 * tr.box[3] and tr.box[2] <= BIRD_MAX_WIDTH * e
        bird = flat or (speed > 2 * self.tuning.water_max_speed and size <= 0.5 * e)
        boat = size > self.tuning.water_max_size * e and not (tr.crossed_t is not None or tr.sank_t is not None)
        explain.add(tr.explain, ctx.t - tr.explain_t, (person, scenery, reflection, bird, boat))
        tr.explain_t = ctx.t

    @staticmethod
    def _head_sized(tr: TrackState, e: float) -> bool:
        """Head and shoulders: not taller than WATER_MAX_HEIGHT (+2 px of blur), not a tall narrow upright.
        Judged on the blob's warm core: a body under the surface can show as a fainter warm wake below."""
        w, h = float(tr.core[2]), float(tr.core[3])
        return h <= WATER_MAX_HEIGHT * e + 2 and h <= WATER_MAX_ASPECT * w + 1

    def _inside_view(self, tr: TrackState) -> bool:
        """Lost well inside the picture (went under), not at its border (flew or drifted out of view) nor
        behind an exclude zone (hidden, not gone)."""
        x, y, w, h = tr.box
        e = float(self.geo.person_height(y + h))
        rows, cols = self.geo.shape
        inside = x > 0.5 * e and y > 0.5 * e and x + w < cols - 0.5 * e and y + h < rows - 0.5 * e
        return inside and not self.geo.touches_exclude(tr.box, 0.3 * e)  # not behind a rope or a mast

    def _handoff(self, tr: TrackState, ctx: FrameContext) -> Departure | None:
        for dep in self.departures:
            # born up to half a second before the walker was last seen: a falling body can split in two
            if -0.5 <= tr.born_t - dep.t <= self.tuning.handoff_s and (
                math.hypot(*(tr.start_centroid - dep.point)) <= 1.5 * dep.height
            ):
                return dep
        return None

    def _take_over_record(self, tr: TrackState, e: float) -> None:
        """A track born in the water next to one just lost there is the same thing under a new id (a duck
        whose blob split, a swimmer behind a wave): it carries on that track's record, so 'mostly not a
        person' stays true of a duck and a swimmer keeps the time already seen."""
        for k, rec in enumerate(self.water_records):
            if math.hypot(*(rec.point - tr.centroid)) <= WATER_MEMORY_RADIUS * e:
                tr.body_frames += rec.body_frames
                tr.water_frames += rec.water_frames
                tr.first_water_t = rec.first_water_t
                tr.excursion = max(tr.excursion, rec.excursion)
                del self.water_records[k]
                return

    def _on_lost(self, tr: TrackState, ctx: FrameContext) -> Detection | None:
        if tr.alerted:
            return None
        if tr.water_frames and tr.land_person_t is None and tr.crossed_t is None:
            self.water_records.append(WaterRecord(tr.last_t, tr.centroid.copy(), tr.body_frames, tr.water_frames,
                                                  tr.first_water_t if tr.first_water_t is not None else tr.born_t,
                                                  tr.excursion))
        # a body went under, not a fragment or a reflection: body-sized and about as warm as on land
        went_under = tr.water_height >= self.tuning.water_min_size and tr.exit_peak >= WARM_AS_LAND * tr.land_peak
        if tr.land_height < self.tuning.person_min_height:
            went_under = went_under and tr.water_peak >= self.tuning.head_min_sigma
        if not ctx.quiet and self._gone_behind_edge(tr, ctx, lost=True):
            conf = 0.5 + 0.25 * min(1.0, tr.land_height) + 0.1
            return self._alert("water_entry", tr, ctx, conf, tr.sank_frame, t=ctx.t, crossed_t=tr.sank_t)
        if tr.crossed_t is not None and not ctx.quiet and self._inside_view(tr) and went_under:
            # Crossed into the water, then gone: under the surface. That is the alert, not a reason to forget.
            conf = 0.55 + 0.25 * min(1.0, tr.land_height) + 0.1
            return self._alert("water_entry", tr, ctx, conf, tr.crossed_frame, t=ctx.t, crossed_t=tr.crossed_t)
        if tr.water_frames and tr.land_person_t is None and not ctx.quiet and self._inside_view(tr):
            # The falling body got a track of its own (it changed shape too fast to keep the walker's id),
            # reached the water next to where the walker vanished, and went under.
            handoff = self._handoff(tr, ctx)
            body = tr.hits >= 2 and tr.box[3] >= self.tuning.water_min_size * self.geo.person_height(tr.anchor[1]) + 1
            warm = handoff is not None and tr.water_peak >= max(WARM_AS_LAND * handoff.land_peak,
                                                                0.5 * self.tuning.head_min_sigma)
            if body and warm:
                conf = 0.5 + 0.25 * min(1.0, handoff.land_height) + 0.1
                return self._alert("water_entry", tr, ctx, conf, handoff.frame_index, t=ctx.t)
        # a person on land up to a second before it was last seen (judged from then: at 2 fps losing a track
        # takes longer than that)
        if tr.land_person_t is not None and tr.last_t - tr.land_person_t <= 1.0 and self.behaved(tr):
            e = float(self.geo.person_height(tr.anchor[1]))
            d = float(self.geo.water_distance(tr.anchor[None])[0])
            if abs(d) <= (self.tuning.edge_margin + 0.6) * e:
                # reach in px: the person's own height if the perspective guess is smaller (unmeasured camera)
                reach = max(e, float(tr.box[3]))
                self.departures.append(Departure(tr.last_t, tr.last_frame, tr.anchor.copy(), reach, tr.land_height,
                                                 tr.land_peak))
        return None

    # ------------------------------------------------------------------------------------------------
    def _alert(self, kind: AlertKind, tr, ctx, conf: float, evidence_frame: int, t: float | None = None,
               crossed_t: float | None = None):
        """`crossed_t`: this is a crossing from land, made then. A crossing is a new person (two people can fall
        in at the same spot, seconds or minutes apart), except when an incident there opened around the time
        of the crossing: that was him, reported through another track of the same fall (his head seen in the
        water before his crossing was confirmed, a fragment of the splash). The first alert stands."""
        margin = explain.margin(tr.explain)
        if margin < self.tuning.alert_margin:
            return None  # the evidence does not yet outweigh the best other explanation by the site's margin
        tr.alerted = True
        point = tr.centroid
        e = float(self.geo.person_height(point[1]))
        for inc in self.incidents:
            if crossed_t is not None and inc.opened < crossed_t - CROSSING_JOINS_S:
                continue
            # the person may have drifted, or surfaced away from where they went in, while unseen
            radius = (INCIDENT_RADIUS + min(INCIDENT_DRIFT * (ctx.t - inc.last_seen), INCIDENT_MAX_DRIFT)) * e
            if math.hypot(*(inc.point - point)) <= radius:
                tr.incident = inc  # same person, seen again: keep the incident alive, no second alert
                inc.point, inc.last_seen = point.copy(), ctx.t
                return None
        tr.incident = Incident(point.copy(), ctx.t, kind, ctx.t)
        self.incidents.append(tr.incident)
        x, y, w, h = (round(float(v)) for v in tr.box)
        conf = round(float(min(conf, 1.0)), 3)
        return Detection(kind, float(ctx.t if t is None else t), int(evidence_frame), tr.id, (x, y, w, h), conf,
                         round(margin, 3))

    def _refresh_incidents(self, seen: list[TrackState], t: float) -> None:
        for tr in seen:
            if tr.incident is not None:
                tr.incident.point, tr.incident.last_seen = tr.centroid.copy(), t
        self.incidents = [i for i in self.incidents if t - i.last_seen <= self.tuning.incident_memory_s]
