"""The service's Prometheus metrics, on a registry of its own (so two services in one test don't collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.events = Counter("quaywatch_alerting_events_total", "Valid events taken in", ["kind"], registry=r)
        self.rejected = Counter("quaywatch_alerting_events_rejected_total",
                                "Payloads rejected at intake", ["reason"], registry=r)
        self.late = Counter("quaywatch_alerting_events_late_total",
                             "Events older than alerting.intake.max_event_age_s on arrival: stored, never paged",
                             ["kind"], registry=r)
        self.duplicates = Counter("quaywatch_alerting_events_duplicate_total",
                                  "Redelivered events (same event id), ignored", registry=r)
        self.incidents = Counter("quaywatch_alerting_incidents_total", "Incidents opened",
                                 ["category", "drill"], registry=r)
        self.pages = Counter("quaywatch_alerting_pages_total", "Pages sent", ["channel", "result"], registry=r)
        self.retries = Counter("quaywatch_alerting_send_attempts_retried_total",
                               "Extra attempts after transient failures", registry=r)
        self.escalations = Counter("quaywatch_alerting_escalations_total", "Escalation steps sent",
                                   ["reason"], registry=r)
        self.delivery = Counter("quaywatch_alerting_delivery_status_total", "Delivery status callbacks",
                                ["status"], registry=r)
        self.inbound = Counter("quaywatch_alerting_inbound_sms_total", "Inbound SMS", ["result"], registry=r)
        self.forbidden = Counter("quaywatch_alerting_webhook_forbidden_total",
                                 "Webhooks refused for a missing or invalid X-Twilio-Signature", ["hook"],
                                 registry=r)
        self.api_refused = Counter("quaywatch_alerting_api_refused_total",
                                   "Read-API requests refused: not from loopback", registry=r)
        self.reconciled = Counter(
            "quaywatch_alerting_inflight_reconciled_total",
            "Pages left 'sending' by a sender that died, checked with the provider: found_sent (it had left; "
            "not resent), resent, resend_failed, not_needed (not sent, the incident no longer pages), "
            "too_old (not sent, claimed longer ago than twilio.validity_period_s: expired), "
            "lookup_failed (the provider could not be asked; tried again next round)", ["outcome"], registry=r)
        self.latency = Histogram(
            "quaywatch_alerting_event_to_request_seconds", "Event received -> Twilio request sent",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)
        self.open_incidents = Gauge("quaywatch_alerting_open_incidents", "Incidents not yet closed or resolved",
                                    registry=r)
        self.mqtt_connected = Gauge("quaywatch_alerting_mqtt_connected", "1 while connected to the broker",
                                    registry=r)
        # Dispatch (issue 14): the SMS's evidence links refused, and CAP messages handed to dispatch endpoints.
        self.links_refused = Counter("quaywatch_alerting_links_refused_total",
                                     "Evidence links refused: malformed, bad signature, expired, no such incident",
                                     ["reason"], registry=r)
        self.cap_webhook = Counter("quaywatch_alerting_cap_webhook_total",
                                   "CAP messages POSTed to dispatch endpoints, by outcome", ["endpoint", "result"],
                                   registry=r)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of one series (tests and /healthz read it)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0
