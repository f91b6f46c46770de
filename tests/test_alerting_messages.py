"""Paging policy validation (errors name the field) and the words of each message (one GSM-7 SMS)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from quaywatch.alerting.notify.gsm7 import fits_one_sms, septets
from quaywatch.alerting.notify.templates import AlertFacts, ack_text, sms_text, voice_twiml
from quaywatch.config.alerting import DEFAULT_TEMPLATES
from quaywatch.config.loader import SITES_DIR, load_site, load_yaml, site_from_dict
from quaywatch.errors import ConfigError

DEMO = load_yaml(SITES_DIR / "demo.yaml")
WHEN = datetime(2026, 7, 1, 20, 41, 7, tzinfo=UTC)  # 22:41:07 in Copenhagen (summer time)


def facts(place="Honnørkajen, looking west", cameras=("cam-1",), drill=False, kind="water_entry") -> AlertFacts:
    return AlertFacts(kind=kind, drill=drill, place=place, cameras=cameras, time=WHEN,
                      timezone="Europe/Copenhagen", code="4821", lat=57.0502, lon=9.9217)


def test_danish_sms_reads_as_specified_and_fits_one_segment():
    text = sms_text(DEFAULT_TEMPLATES["da"], facts())
    assert text == ("DRUKNEALARM Honnørkajen cam-1 22:41:07 person i vandet. "
                    "Kort: https://maps.google.com/?q=57.0502,9.9217 Svar 4821 for at kvittere")
    assert septets(text) == len(text) == 129  # æøå are single GSM-7 septets


def test_winter_time_uses_the_site_zone():
    f = AlertFacts(**{**facts().__dict__, "time": datetime(2026, 1, 10, 5, 3, 0, tzinfo=UTC)})
    assert " 06:03:00 " in sms_text(DEFAULT_TEMPLATES["en"], f)


@pytest.mark.parametrize("lang", ["da", "en"])
def test_long_place_and_many_cameras_are_shortened_never_a_second_segment(lang):
    f = facts(place="Den meget lange kaj ved Limfjordens nordlige bred i Nørresundby Havn",
              cameras=("cam-1", "cam-12", "cam-13", "cam-14", "cam-15"), drill=True)
    text = sms_text(DEFAULT_TEMPLATES[lang], f, place_max=60)
    assert fits_one_sms(text), (septets(text), text)
    assert "4821" in text and "https://maps.google.com/?q=57.0502,9.9217" in text
    assert text.startswith(DEFAULT_TEMPLATES[lang].drill_prefix)


def test_characters_outside_gsm7_are_replaced_so_the_sms_stays_gsm7():
    text = sms_text(DEFAULT_TEMPLATES["da"], facts(place="Kaj “Nord” – 🚤"))
    assert septets(text) is not None and fits_one_sms(text)
    assert septets("€[]") == 6 and septets("ok 🙂") is None


def test_voice_twiml_is_escaped_and_spells_the_code():
    xml = voice_twiml(DEFAULT_TEMPLATES["en"], facts(place="Pier <A> & B"), "en")
    assert xml.startswith('<Response><Say language="en-GB">') and "Pier &lt;A&gt; &amp; B" in xml
    assert "4 8 2 1" in xml
    assert ack_text(DEFAULT_TEMPLATES["en"], facts()) == "Acknowledged 4821: Honnørkajen 22:41:07. Thank you."


def problems(mutate) -> str:
    data = copy.deepcopy(DEMO)
    mutate(data["alerting"])
    with pytest.raises(ConfigError) as err:
        site_from_dict(data, "demo.yaml")
    return str(err.value)


def test_config_errors_name_the_field():
    msg = problems(lambda a: a["policies"]["drill"]["steps"][0].update(notify=["police"]))
    assert "alerting: policies.drill.steps[0].notify: drills may only page test groups, 'police' is police" in msg
    msg = problems(lambda a: a["policies"]["camera"]["steps"][0].update(notify=["police"]))
    assert "policies.camera.steps[0].notify: camera trouble must not page the police" in msg
    msg = problems(lambda a: a["policies"]["water"]["steps"][0].update(after_s=10))
    assert "alerting.policies.water.steps: the first step must have after_s: 0" in msg
    msg = problems(lambda a: a["policies"]["water"]["steps"][1].update(notify=["coastguard"]))
    assert "policies.water.steps[1].notify: unknown group 'coastguard'" in msg
    msg = problems(lambda a: a["groups"]["police"]["people"][0].update(number="20000002"))
    assert "alerting.groups.police.people[0].number:" in msg
    msg = problems(lambda a: a["twilio"].update(auth_token="secret") if "twilio" in a else a.update(
        twilio={"auth_token": "secret"}))
    assert "alerting.twilio.auth_token: unknown field" in msg


def test_shipped_sites_have_complete_paging_policies():
    for name in ("demo", "aalborg-havnefront"):
        a = load_site(name).alerting
        assert a.policies is not None
        assert {g.kind for g in a.groups.values()} == {"control_room", "police", "rescue", "test"}
    assert load_site("demo").alerting.dry_run is True


def test_incident_api_answers_loopback_only_and_counts_refusals():
    """The read API shows phone numbers and has no login: only this machine may ask, not via a proxy."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from quaywatch.alerting.metrics import Metrics
    from quaywatch.alerting.web import api

    class Service:
        metrics = Metrics()

        class store:
            @staticmethod
            def incidents(**_):
                return []

    app = FastAPI()
    app.state.service = Service()
    app.include_router(api.router)
    remote = TestClient(app, client=("203.0.113.7", 5000))
    assert remote.get("/api/incidents").status_code == 403
    local = TestClient(app, client=("127.0.0.1", 5000))
    assert local.get("/api/incidents").status_code == 200
    assert local.get("/api/incidents", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert Service.metrics.sample("quaywatch_alerting_api_refused_total") == 2
