"""GStreamer's RTSP server (Debian's gst-rtsp-server) serving a test stream three ways.

Run with Debian's own Python (``/usr/bin/python3``, which has ``python3-gi``):
``gst_rtsp_server.py PORT USER PASSWORD`` serves ``/stream`` (H.264) without
authentication on PORT, with Basic on PORT+1 and with Digest on PORT+2, then prints
``ready``. A third-party server for the agent's RTSP client; ffprobe is the reference.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 )"
)
ROLE = "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"


def serve(port: int, method: str, username: str, password: str) -> None:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    if method != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if method == "basic":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
        else:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(username, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.from_string(ROLE)[0])
    server.get_mount_points().add_factory("/stream", factory)
    server.attach(None)


def main() -> None:
    port, username, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Gst.init(None)
    for offset, method in enumerate(("none", "basic", "digest")):
        serve(port + offset, method, username, password)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
