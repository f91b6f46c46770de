"""Camera commands: `quaywatch camera-sim`, `quaywatch probe SOURCE`, `quaywatch discover`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import urlsplit

from quaywatch.errors import QuaywatchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera-sim", help="serve a simulated thermal camera: RTSP + ONVIF (+ WS-Discovery)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--clip", help="clip to loop (8-bit MP4 or 16-bit MKV)")
    what.add_argument("--scene", help="live simulated scene: sim://aalborg?seed=1 (also pier, lepton)")
    p.add_argument("--size", default="384x288", help="test-pattern size WxH when no clip or scene (384x288)")
    p.add_argument("--fps", type=float, default=9.0, help="test-pattern fps (9)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument("--port", type=int, default=8554, help="RTSP port (8554)")
    p.add_argument("--onvif-port", type=int, default=8000, help="ONVIF HTTP port (8000)")
    p.add_argument("--discovery-port", type=int, default=0,
                   help="answer WS-Discovery probes on this UDP port of --host (0: off; 3702 is the standard)")
    p.add_argument("--advertise", default="", help="host to put in the stream/snapshot URLs (default: --host)")
    p.add_argument("--user", default="admin")
    p.add_argument("--password-env", default="QUAYWATCH_CAMERA_PASSWORD",
                   help="environment variable holding the password (unset: no authentication)")
    p.add_argument("--clock-offset", type=float, default=0.0, help="camera clock ahead of the host by this many s")
    p.add_argument("--name", default="camera-sim")
    p.set_defaults(func=_camera_sim)

    p = sub.add_parser("probe", help="commission a camera: device info, profiles, stream, measured fps, snapshot")
    p.add_argument("source", help="onvif://user@host:port, rtsp://host/path, sim://SCENE or a clip")
    p.add_argument("--password-env", default="QUAYWATCH_CAMERA_PASSWORD",
                   help="environment variable holding the camera password")
    p.add_argument("--profile", help="ONVIF profile token to use (default: highest-resolution H.264)")
    p.add_argument("--frames", type=int, default=20, help="frames to read to measure fps (20)")
    p.add_argument("--timeout", type=float, default=10.0, help="open/read timeout in seconds (10)")
    p.add_argument("--snapshot", help="save a JPEG snapshot here")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=_probe)

    p = sub.add_parser("discover", help="find ONVIF cameras with a WS-Discovery probe")
    p.add_argument("--target", action="append", default=[], metavar="HOST:PORT",
                   help="send a unicast probe here (repeatable), e.g. 127.0.0.1:3702")
    p.add_argument("--multicast", action="store_true",
                   help="also probe the LAN's WS-Discovery multicast group 239.255.255.250:3702 (explicit opt-in)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for answers (2)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_discover)


def _camera_sim(args: argparse.Namespace) -> int:
    from quaywatch.edge.camsim.frames import live, looped_clip, test_pattern
    from quaywatch.edge.camsim.server import CamSimOptions, serve

    if args.clip:
        producer = looped_clip(args.clip)
    elif args.scene:
        producer = live(args.scene if "://" in args.scene else f"sim://{args.scene}")
    else:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise QuaywatchError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 384x288") from None
        producer = test_pattern(w, h, args.fps)
    opts = CamSimOptions(host=args.host, rtsp_port=args.port, onvif_port=args.onvif_port,
                         discovery_port=args.discovery_port, user=args.user,
                         password=os.environ.get(args.password_env, ""), clock_offset_s=args.clock_offset,
                         name=args.name, advertise=args.advertise)
    return asyncio.run(serve(opts, producer))


def _probe(args: argparse.Namespace) -> int:
    from quaywatch.edge.probe import format_report, probe

    parts = urlsplit(args.source) if "://" in args.source else None
    if parts is not None and parts.password is not None:
        shown = args.source.replace(f":{parts.password}@", ":***@", 1)
        raise QuaywatchError(
            f"{shown}: a password in the URL is not used (and would show in process lists and logs): remove it "
            f"({parts.scheme}://{parts.username}@{parts.hostname}{f':{parts.port}' if parts.port else ''}) and put "
            f"it in the environment variable ${args.password_env} (--password-env names another)")
    report = probe(args.source, password=os.environ.get(args.password_env), profile=args.profile,
                   frames=args.frames, timeout_s=args.timeout, snapshot=args.snapshot)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(format_report(report))
    return 0


def _discover(args: argparse.Namespace) -> int:
    from quaywatch.edge.discover import discover

    if not args.target and not args.multicast:
        raise QuaywatchError("say where to probe: --target HOST:PORT (unicast), or --multicast to probe the LAN")
    found = discover(args.target, multicast=args.multicast, timeout_s=args.timeout)
    if args.json:
        json.dump([d.as_json() for d in found], sys.stdout, indent=2)
        print()
    else:
        for d in found:
            print(f"{d.xaddrs[0] if d.xaddrs else '?'}  {' '.join(d.scopes)}  (from {d.responder})")
        print(f"{len(found)} device(s) answered", file=sys.stderr)
    return 0
