"""Camera I/O: ONVIF, RTSP, file replay, the simulated camera; runs the detector per camera."""
