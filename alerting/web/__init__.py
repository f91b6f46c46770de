"""The alerting service's web app: Twilio webhooks, /metrics, /healthz, a read API; more routers plug in."""

from quaywatch.alerting.web.app import create_app

__all__ = ["create_app"]
