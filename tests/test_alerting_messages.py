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


LINK = "https://alarm.dk/p/" + "A" * 30  # a real token is 30 characters (alerting/links.py)


def facts(place="Honnørkajen, looking west", cameras=("cam-1",), drill=False, kind="water_entry", approx=False,
          link=LINK) -> AlertFacts:
    return AlertFacts(kind=kind, drill=drill, place=place, cameras=cameras, time=WHEN,
                      timezone="Europe/Copenhagen", code="4821", lat=57.05031, lon=9.92254, approx=approx,
                      uncertainty_m=150 if approx else None, link=link)


def test_danish_sms_reads_as_specified_and_fits_one_segment():
    """Date and time in the site's zone, the fall's own position, the evidence link, the code."""
    text = sms_text(DEFAULT_TEMPLATES["da"], facts())
    assert text == (f"DRUKNEALARM 1/7 22:41 Honnørkajen cam-1: person i vandet. 57.05031,9.92254 {LINK} "
                    "Svar 4821 for at kvittere")
    assert septets(text) == len(text) <= 160  # æøå are single GSM-7 septets


def test_a_long_link_shortens_the_place_never_the_link_or_the_code():
    long_link = "https://alerting.havn.aalborg.example.dk/p/" + "B" * 30
    text = sms_text(DEFAULT_TEMPLATES["da"], facts(link=long_link))
    assert fits_one_sms(text) and long_link in text and "Svar 4821 for at kvittere" in text and " 1/7 22:41 " in text
    assert "Honnørkajen" not in text and "57.0503" in text, text


def test_camera_position_is_marked_approximate_with_its_uncertainty():
    text = sms_text(DEFAULT_TEMPLATES["da"], facts(approx=True))
    assert " ca. 57.0503,9.9225 (150 m) " in text and fits_one_sms(text), text
    en = sms_text(DEFAULT_TEMPLATES["en"], facts(approx=True))
    assert " ca. 57.0503,9.9225 (150 m) " in en and fits_one_sms(en), en


def test_without_a_link_the_map_link_stands_in():
    text = sms_text(DEFAULT_TEMPLATES["da"], facts(link=None))
    assert "https://maps.google.com/?q=57.05031,9.92254" in text and fits_one_sms(text), text


def test_winter_time_uses_the_site_zone_and_an_unambiguous_date():
    f = AlertFacts(**{**facts().__dict__, "time": datetime(2026, 1, 10, 5, 3, 0, tzinfo=UTC)})
    assert " 10 Jan 06:03 " in sms_text(DEFAULT_TEMPLATES["en"], f)  # never "1/10", read as 10 January or 1 October
    assert " 10/1 06:03 " in sms_text(DEFAULT_TEMPLATES["da"], f)  # day/month, as Danes write it


@pytest.mark.parametrize("lang", ["da", "en"])
@pytest.mark.parametrize("approx", [False, True])
def test_long_place_and_many_cameras_are_shortened_never_a_second_segment(lang, approx):
    f = facts(place="Den meget lange kaj ved Limfjordens nordlige bred i Nørresundby Havn",
              cameras=("cam-1", "cam-12", "cam-13", "cam-14", "cam-15"), drill=True, approx=approx)
    text = sms_text(DEFAULT_TEMPLATES[lang], f, place_max=60)
    assert fits_one_sms(text), (septets(text), text)
    assert "4821" in text and LINK in text and "57.0503" in text and "22:41" in text
    assert text.startswith(DEFAULT_TEMPLATES[lang].drill_prefix)


@pytest.mark.parametrize("kind", ["camera_offline", "self_test_failed"])
def test_camera_faults_read_as_camera_faults(kind):
    da = sms_text(DEFAULT_TEMPLATES["da"], facts(kind=kind, cameras=("cam-2",), place="Nordkraft pier"))
    assert da.startswith("KAMERAFEJL cam-2 1/7 22:41 Nordkraft pier: "), da
    assert "DRUKNEALARM" not in da and "Svar 4821" in da and fits_one_sms(da)
    assert "kamera offline" in da if kind == "camera_offline" else "selvtest fejlet" in da
    en = sms_text(DEFAULT_TEMPLATES["en"], facts(kind=kind, cameras=("cam-2",)))
    assert en.startswith("CAMERA FAULT cam-2 ") and "DROWNING" not in en
    voice = voice_twiml(DEFAULT_TEMPLATES["da"], facts(kind=kind, cameras=("cam-2",)), "da")
    assert "Kamerafejl" in voice and "Druknealarm" not in voice


def test_a_sites_own_templates_keep_the_camera_fault_wording():
    data = copy.deepcopy(DEMO)
    own = DEFAULT_TEMPLATES["da"].model_dump(exclude={"camera_sms", "camera_voice"})
    data["alerting"]["templates"] = {"da": {**own, "sms": "ALARM {place} {code}"}}
    tpl = site_from_dict(data, "demo.yaml").alerting.templates["da"]
    assert tpl.sms == "ALARM {place} {code}" and tpl.camera_sms == DEFAULT_TEMPLATES["da"].camera_sms


def test_characters_outside_gsm7_are_replaced_so_the_sms_stays_gsm7():
    text = sms_text(DEFAULT_TEMPLATES["da"], facts(place="Kaj “Nord” – 🚤"))
    assert septets(text) is not None and fits_one_sms(text)
    assert septets("€[]") == 6 and septets("ok 🙂") is None


def test_voice_twiml_is_escaped_and_spells_the_code():
    xml = voice_twiml(DEFAULT_TEMPLATES["en"], facts(place="Pier <A> & B"), "en")
    assert xml.startswith('<Response><Say language="en-GB">') and "Pier &lt;A&gt; &amp; B" in xml
    assert "4 8 2 1" in xml
    assert ack_text(DEFAULT_TEMPLATES["en"], facts()) == "Acknowledged 4821: Honnørkajen 22:41. Thank you."


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
