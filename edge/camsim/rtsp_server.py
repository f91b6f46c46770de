#!/usr/bin/python3
"""The simulated camera's RTSP server: GStreamer's rtsp-server, H.264 from raw grey frames on stdin.

Runs under Debian's /usr/bin/python3 (the only interpreter with `gi`), so it uses the stdlib and gi
only. The parent (`quaywatch camera-sim`) paces the frames; this process only encodes and serves:

    appsrc (GRAY8, live, timestamped on arrival) ! videoconvert ! x264enc tune=zerolatency ! rtph264pay

One shared media for all clients, as a real camera has one encoder. Frames arriving while no client
watches are read and dropped, so the parent never blocks. Stdin closing (the parent died) ends it.
The password, when set, comes from the environment variable QUAYWATCH_CAMSIM_PASSWORD (RTSP digest auth).
"""

import argparse
import contextlib
import os
import sys
import threading
from fractions import Fraction

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/stream")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--fps", type=float, required=True)
    p.add_argument("--user", default="")
    return p.parse_args()


class FrameFeed:
    """Reads fixed-size frames from stdin and pushes each to the media's appsrc, if a client is watching."""

    def __init__(self, width, height, fps, loop):
        self.size = width * height
        self.duration = int(Gst.SECOND / fps)
        self.loop = loop
        self.appsrc = None
        self.lock = threading.Lock()

    def attach(self, appsrc):
        with self.lock:
            self.appsrc = appsrc

    def detach(self, *_):
        with self.lock:
            self.appsrc = None

    def run(self):
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read(self.size)
            if len(data) < self.size:  # the parent is gone: so are we
                GLib.idle_add(self.loop.quit)
                return
            with self.lock:
                appsrc = self.appsrc
            if appsrc is None:
                continue
            buf = Gst.Buffer.new_wrapped(data)
            buf.duration = self.duration
            if appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                self.detach()


def main():
    args = parse_args()
    Gst.init(None)
    loop = GLib.MainLoop()
    fps_frac = Fraction(args.fps).limit_denominator(1000)
    gop = max(1, round(args.fps))  # a keyframe each second: a reconnecting client waits at most that
    caps = (f"video/x-raw,format=GRAY8,width={args.width},height={args.height},"
            f"framerate={fps_frac.numerator}/{fps_frac.denominator}")
    launch = (
        f'( appsrc name=src is-live=true format=time do-timestamp=true block=false max-bytes={4 * args.width * args.height} '
        f'caps="{caps}" ! queue leaky=downstream max-size-buffers=4 ! videoconvert ! video/x-raw,format=I420,colorimetry=(string)1:4:0:0 ! '
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bframes=0 threads=1 ! "
        f"video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    feed = FrameFeed(args.width, args.height, args.fps, loop)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    def configure(_factory, media):
        appsrc = media.get_element().get_child_by_name("src")
        feed.attach(appsrc)
        media.connect("unprepared", feed.detach)

    factory.connect("media-configure", configure)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    password = os.environ.get("QUAYWATCH_CAMSIM_PASSWORD", "")
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_digest(args.user, password, token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"rtsp-server: cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)
    threading.Thread(target=feed.run, daemon=True).start()
    print(f"rtsp-server: rtsp://{args.host}:{args.port}{args.path} {args.width}x{args.height}@{args.fps:g}",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run()


if __name__ == "__main__":
    main()
