"""The test harness's own peer: a real Mosquitto that survives a restart with its port."""

import socket


def test_mosquitto_starts_and_restarts(mosquitto):
    socket.create_connection(("127.0.0.1", mosquitto.port), timeout=2).close()
    mosquitto.restart()
    socket.create_connection(("127.0.0.1", mosquitto.port), timeout=2).close()
