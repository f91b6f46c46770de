"""Put the control room into a running alerting service: one call from the service's start-up code.

    from quaywatch.controlroom.mount import attach_controlroom
    service = AlertingService(site, ...)
    attach_controlroom(service)          # serves /controlroom/ on the service's web port

The page reads the service's own store, hears its in-process change feed, and follows camera status and
live-view frames on the site's MQTT broker with a subscriber of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import RedirectResponse

from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.controlroom.backend_alerting import AlertingBackend
from quaywatch.controlroom.camera_feed import CameraFeed
from quaywatch.controlroom.metrics import register as register_metrics
from quaywatch.controlroom.router import create_router
from quaywatch.mqtt_accounts import credentials

log = logging.getLogger(__name__)
PREFIX = "/controlroom"


def controlroom_config(site: Any) -> ControlRoomConfig:
    return getattr(site, "controlroom", None) or ControlRoomConfig()


def start_camera_feed(backend: AlertingBackend, site: Any, cfg: ControlRoomConfig,
                      host: str | None = None, port: int | None = None) -> CameraFeed:
    mqtt = site.mqtt
    username, password = credentials(site, "alerting")  # the control room reads with alerting's account
    return CameraFeed(backend.board, host or mqtt.host or "127.0.0.1", port or mqtt.port, mqtt.topic_prefix,
                      site.site.id, cfg.preview_topic, username=username, password=password,
                      tls=mqtt.tls, ca_file=mqtt.ca_file).start()


def attach_controlroom(service: Any, *, site_file: str | None = None, prefix: str = PREFIX) -> AlertingBackend | None:
    """Mount the page on `service.app` and start what feeds it; returns the backend (stop() it at exit).

    Paging matters more than the page: if the control room cannot start (say its users database cannot be
    opened), that is logged as an error and the alerting service runs on without it."""
    if getattr(service, "controlroom", None) is not None:
        return service.controlroom  # attached already (the CLI does it; a script may call it again)
    try:
        service.controlroom = _attach(service, site_file, prefix)
        return service.controlroom
    except Exception as exc:  # never let the page take paging down
        log.error("control room NOT started: %s: %s (alerting runs on without it)", type(exc).__name__, exc)
        return None


def _attach(service: Any, site_file: str | None, prefix: str) -> AlertingBackend:
    site = service.site
    cfg = controlroom_config(site)
    backend = AlertingBackend(site, service.store, feed=getattr(service, "changes", None),
                              poll_interval_s=cfg.poll_interval_s, stale_after_s=cfg.stale_after_s,
                              in_service_since=cfg.in_service_since.timestamp() if cfg.in_service_since else None,
                              problems=getattr(service, "problems", None))
    router = create_router(backend, cfg, prefix=prefix, site_file=site_file)
    backend.start()
    backend.camera_feed = start_camera_feed(backend, site, cfg)  # type: ignore[attr-defined]
    hooks = getattr(service, "on_stop", None)
    if hooks is not None:
        hooks.append(backend.close_live)  # open pages' live streams end as the service stops
    registry = getattr(getattr(service, "metrics", None), "registry", None)
    if registry is not None:
        register_metrics(registry)
    service.app.include_router(router, prefix=prefix)
    if not any(getattr(r, "path", None) == "/" for r in service.app.routes):
        # The service's bare address (what the demo prints) opens the control room.
        service.app.add_api_route("/", lambda: RedirectResponse(f"{prefix}/", status_code=307),
                                  include_in_schema=False)
    log.info("control room on %s/", prefix)
    return backend
