"""Engineer-facing errors say what is wrong, before any work, as one line and never a traceback (issue 14).

Each runs the real `quaywatch` command as a subprocess, as an engineer would."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.peers import REPO

FALL_CLIP = REPO / "recordings_fixtures" / "fall-aalborg-winter-night-1.mp4"


def quaywatch(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quaywatch", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "QUAYWATCH_CAMERA_PASSWORD": ""})


def assert_clear(proc: subprocess.CompletedProcess, *expected: str) -> str:
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    for text in expected:
        assert text in err, err
    return err


def test_replay_of_a_missing_clip_says_the_file_does_not_exist(tmp_path):
    err = assert_clear(quaywatch("replay", "missing.mp4", cwd=tmp_path),
                       "missing.mp4: no such file (the clip does not exist)")
    assert "sidecar" not in err


def test_replay_checks_the_debug_directory_before_replaying(tmp_path):
    if not FALL_CLIP.exists():
        pytest.skip(f"{FALL_CLIP} is absent")
    err = assert_clear(quaywatch("replay", str(FALL_CLIP), "--debug", "/no/dir/x.mp4"),
                       "--debug /no/dir/x.mp4: the directory /no/dir does not exist")
    assert "frames" not in err  # failed before replaying (the summary line names the frames replayed)


def test_eval_of_a_missing_directory_says_it_does_not_exist(tmp_path):
    err = assert_clear(quaywatch("eval", "/no/dir", cwd=tmp_path),
                       "/no/dir: no such clip or directory (it does not exist)")
    assert "invalid configuration" not in err


def test_probe_refuses_a_password_in_the_url_and_never_echoes_it():
    err = assert_clear(quaywatch("probe", "onvif://admin:hunter2@127.0.0.1:9"),
                       "a password in the URL is not used", "onvif://admin@127.0.0.1:9", "$QUAYWATCH_CAMERA_PASSWORD")
    assert "hunter2" not in err
    assert "refused the credentials" not in err  # never reached the camera


def test_config_refuses_a_password_in_a_camera_url_naming_the_field(tmp_path):
    site = yaml.safe_load((REPO / "config" / "sites" / "demo.yaml").read_text())
    site["cameras"][1]["source"] = "onvif://admin:hunter2@10.0.0.5:80"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True))
    err = assert_clear(quaywatch("check-config", "site.yaml", cwd=tmp_path),
                       "cameras[1].source: the password must not be written in the config", "password_env")
    assert "hunter2" not in err
