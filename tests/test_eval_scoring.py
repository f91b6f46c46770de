"""The eval matching rule at its window bounds, with duplicates, and the --fail-under gate."""

import pytest

from quaywatch.errors import QuaywatchError
from quaywatch.evaluation.scoring import (
    TimedEvent,
    failures,
    match,
    parse_thresholds,
    score_clip,
    totals,
)

E = lambda t: TimedEvent("water_entry", t)  # noqa: E731
A = lambda t: TimedEvent("water_entry", t)  # noqa: E731


@pytest.mark.parametrize(
    ("alert_t", "matched"),
    [(9.0, True), (8.999, False), (20.0, True), (20.001, False), (10.0, True), (15.5, True)],
)
def test_window_bounds(alert_t, matched):
    # event at t=10: the window is [9, 20], both ends included
    assert bool(match([E(10.0)], [A(alert_t)])) is matched


def test_duplicate_alerts_match_once_and_the_rest_are_false_alarms():
    s = score_clip("c", "cam-1", 60, [E(10.0)], [A(12.0), A(10.5), A(11.0)])
    assert s.found == 1
    assert s.matched == [(0, 1)]  # the earliest alert in the window
    assert s.false_alarms == 2
    assert s.time_to_alert == pytest.approx([0.5])


def test_two_close_events_each_take_their_own_alert():
    s = score_clip("c", "cam-1", 60, [E(10.0), E(14.0)], [A(10.2), A(14.1)])
    assert s.found == 2 and s.false_alarms == 0
    assert s.time_to_alert == pytest.approx([0.2, 0.1])


def test_one_alert_cannot_serve_two_events():
    s = score_clip("c", "cam-1", 60, [E(10.0), E(12.0)], [A(12.5)])
    assert s.found == 1 and s.missed == 1 and s.false_alarms == 0


def test_alert_before_window_is_false_alarm_and_event_missed():
    s = score_clip("c", "cam-1", 60, [E(30.0)], [A(5.0)])
    assert (s.found, s.missed, s.false_alarms) == (0, 1, 1)


def test_totals_and_gate():
    scores = [
        score_clip("pos", "cam-1", 30, [E(10.0)], [A(11.0)]),
        score_clip("neg", "cam-1", 3600, [], [A(100.0)]),
    ]
    t = totals(scores)
    assert (t.events, t.found, t.false_alarms) == (1, 1, 1)
    assert t.camera_hours == pytest.approx(3630 / 3600)
    assert t.negative_camera_hours == pytest.approx(1.0)
    assert t.fa_per_hour == pytest.approx(3600 / 3630)
    assert t.tta_median == pytest.approx(1.0)
    assert failures(t, parse_thresholds("found=1.0,tta_p95=2.0")) == []
    msgs = failures(t, parse_thresholds("found=1.0,fa_per_hour=0.05,tta_median=0.5"))
    assert len(msgs) == 2 and "fa_per_hour" in msgs[0] and "tta_median" in msgs[1]


def test_missed_event_fails_the_found_floor():
    t = totals([score_clip("pos", "cam-1", 30, [E(10.0)], [])])
    assert t.found_ratio == 0.0 and t.tta_p95 is None
    assert failures(t, parse_thresholds("found=1.0,tta_p95=2.0")) == ["found = 0 is below the floor 1"]


@pytest.mark.parametrize("bad", ["found", "speed=3", "found=high"])
def test_bad_thresholds_are_named(bad):
    with pytest.raises(QuaywatchError, match="--fail-under"):
        parse_thresholds(bad)


def test_an_event_the_camera_never_saw_is_neither_found_nor_missed_and_its_alert_is_no_false_alarm():
    hidden = TimedEvent("water_entry", 10.0, visible=False)
    seen = TimedEvent("water_entry", 30.0)
    alerted = score_clip("c", "cam", 60, [hidden, seen], [A(10.5)])
    assert (alerted.found, alerted.missed, alerted.false_alarms, alerted.hidden) == (0, 1, 0, 1)
    quiet = score_clip("d", "cam", 60, [hidden], [])
    t = totals([alerted, quiet])
    assert (t.events, t.found, t.missed, t.hidden_events) == (1, 0, 1, 2)
    assert t.tta_median is None  # the hidden event's alert gives no time to alert
