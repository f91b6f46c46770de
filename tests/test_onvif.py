"""The real onvif-zeep-async client against the simulated camera's ONVIF services, through WS-Security;
WS-Discovery by a unicast probe on loopback only."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from quaywatch.edge.discover import discover
from quaywatch.edge.onvif_client import OnvifAuthError, OnvifError, OnvifProfile, choose_profile, query_device
from tests.camsim_peer import CameraSim


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    # the camera clock runs 10 minutes ahead: more than the 5 minutes it tolerates in a token's Created
    cam = CameraSim(tmp_path_factory.mktemp("onvif"), size="192x144", clock_offset=600, discovery=True).start()
    yield cam
    cam.stop()


def test_device_profiles_and_stream_uri_through_ws_security(sim):
    dev = query_device(sim.onvif_url, sim.password, timeout_s=20, snapshot=True)
    assert (dev.manufacturer, dev.model) == ("Quaywatch", "SimThermal 192x144")
    assert [p.token for p in dev.profiles] == ["sub_jpeg", "main_h264"]
    assert dev.profile.token == "main_h264"  # highest-resolution H.264, not the first listed
    assert (dev.profile.width, dev.profile.height, dev.profile.encoding) == (192, 144, "H264")
    assert dev.stream_uri == f"rtsp://127.0.0.1:{sim.rtsp_port}/stream"
    assert dev.snapshot_uri == f"http://127.0.0.1:{sim.onvif_port}/onvif/snapshot.jpg"
    assert dev.clock_offset_s is not None and abs(dev.clock_offset_s - 600) < 2
    picture = cv2.imdecode(np.frombuffer(dev.snapshot, np.uint8), cv2.IMREAD_GRAYSCALE)  # HTTP digest auth
    assert picture.shape == (144, 192)


def test_a_configured_profile_wins(sim):
    dev = query_device(sim.onvif_url + "?profile=sub_jpeg", sim.password, timeout_s=20)
    assert dev.profile.token == "sub_jpeg" and dev.stream_uri.endswith("/sub")
    with pytest.raises(OnvifError, match="no profile 'thermal-2'; it has: sub_jpeg, main_h264"):
        query_device(sim.onvif_url, sim.password, profile="thermal-2", timeout_s=20)


def test_the_raw_client_works_too(sim):
    """The onvif package as documented (ONVIFCamera, update_xaddrs, services), no wrapper of ours."""
    from onvif import ONVIFCamera

    async def talk():
        cam = ONVIFCamera("127.0.0.1", sim.onvif_port, sim.USER, sim.password, no_cache=True, adjust_time=True)
        try:
            await cam.update_xaddrs()
            media = await cam.create_media_service()
            profiles = await media.GetProfiles()
            uri = await media.GetStreamUri({"ProfileToken": profiles[1].token,
                                            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
            return cam.xaddrs, [p.VideoEncoderConfiguration.Encoding for p in profiles], uri.Uri
        finally:
            await cam.close()

    xaddrs, encodings, uri = asyncio.run(talk())
    assert xaddrs["http://www.onvif.org/ver10/media/wsdl"].endswith("/onvif/media_service")
    assert encodings == ["JPEG", "H264"] and uri.endswith("/stream")


def test_wrong_password_is_a_clear_error(sim):
    with pytest.raises(OnvifAuthError) as err:
        query_device(sim.onvif_url, "guessed-wrong", timeout_s=20)
    message = str(err.value)
    assert "refused the credentials" in message and f"127.0.0.1:{sim.onvif_port}" in message
    assert "guessed-wrong" not in message


def test_requests_without_a_token_are_refused(sim):
    body = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
            b'<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body></s:Envelope>')
    req = urllib.request.Request(f"http://127.0.0.1:{sim.onvif_port}/onvif/media_service", data=body,
                                 headers={"Content-Type": "application/soap+xml"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400 and b"NotAuthorized" in err.value.read()


def test_unreachable_camera_names_the_address():
    from tests.peers import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(OnvifError, match=f"onvif://admin@127.0.0.1:{port}: cannot reach"):
        query_device(f"onvif://admin@127.0.0.1:{port}", "pw", timeout_s=10)


def test_choose_profile():
    p = [OnvifProfile("a", "a", "H264", 640, 512, 30), OnvifProfile("b", "b", "H264", 1280, 1024, 9),
         OnvifProfile("c", "c", "JPEG", 1920, 1080, 9)]
    assert choose_profile(p).token == "b"
    assert choose_profile(p, "a").token == "a"
    with pytest.raises(OnvifError, match="no profile 'z'; it has: a, b, c"):
        choose_profile(p, "z")
    with pytest.raises(OnvifError, match=r"no H\.264 profile"):
        choose_profile(p[2:])


def test_unicast_ws_discovery_finds_the_camera(sim):
    found = discover([f"127.0.0.1:{sim.discovery_port}"], timeout_s=2)
    assert len(found) == 1
    assert found[0].xaddrs == [f"http://127.0.0.1:{sim.onvif_port}/onvif/device_service"]
    assert "onvif://www.onvif.org/type/video_encoder" in found[0].scopes
    assert found[0].types == "dn:NetworkVideoTransmitter"


def test_discover_needs_an_explicit_target_or_multicast_opt_in():
    from quaywatch.errors import QuaywatchError

    with pytest.raises(QuaywatchError, match="nowhere to probe"):
        discover([])
    with pytest.raises(QuaywatchError, match="expected HOST:PORT"):
        discover(["127.0.0.1"])
