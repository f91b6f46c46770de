"""`quaywatch camera-sim`: a simulated thermal camera (RTSP via GStreamer, ONVIF, WS-Discovery) for tests and the demo."""
