"""The eval report is one HTML file with the numbers, the timeline and the time-to-alert plot."""

from quaywatch.evaluation.report import write_report
from quaywatch.evaluation.scoring import TimedEvent, failures, parse_thresholds, score_clip, totals


def test_report_has_plots_clips_and_verdict(tmp_path):
    scores = [
        score_clip("a/fall-one.mp4", "cam-1", 30, [TimedEvent("water_entry", 10.0)], [TimedEvent("water_entry", 10.8)]),
        score_clip("a/quiet-night.mp4", "cam-1", 1800, [], [TimedEvent("water_entry", 600.0)]),
    ]
    t = totals(scores)
    failed = failures(t, parse_thresholds("found=1.0,fa_per_hour=0.05"))
    out = tmp_path / "r.html"
    write_report(out, scores, t, ["broken.mp4: clip is damaged"], failed)
    html = out.read_text()
    assert html.count("<svg") == 2
    assert "fall-one.mp4" in html and "quiet-night.mp4" in html
    assert "Fails: fa_per_hour" in html
    assert "broken.mp4: clip is damaged" in html
    assert "clips with events" in html and "negative clips" in html
