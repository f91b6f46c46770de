"""The alerting service: contacts, paging policy, message templates, Twilio, store, web.

Who is paged is decided here, so the rules that keep people safe are checked when the file loads:
the first page is never delayed, drills reach only test groups, camera trouble never reaches the police.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quaywatch.config.camera import ENV_NAME

E164 = r"^\+[1-9][0-9]{6,14}$"
GroupKind = Literal["control_room", "police", "rescue", "test"]
Channel = Literal["sms", "voice"]
Language = Literal["da", "en"]


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    number: str = Field(pattern=E164, description="E.164 phone number, e.g. +4520000001")
    language: Language | None = Field(default=None, description="overrides alerting.language for this person")


class ContactGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: GroupKind = Field(description="what the group is; drills may only page `test` groups")
    people: list[Person] = Field(min_length=1)
    agency: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,30}$",
        description="who its people acknowledge for (default: the kind). Each agency's escalation goes on until "
        "that agency acknowledges; the control room's acknowledgement counts for all")

    @property
    def agency_name(self) -> str:
        return self.agency or self.kind


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_s: float = Field(default=0.0, ge=0, le=3600, description="delay after the previous step, unacknowledged")
    notify: list[str] = Field(min_length=1, description="contact group names, paged at once")
    channel: Channel = "sms"


class Policy(BaseModel):
    """Steps in order; after the last one the whole list repeats `loops` more times."""

    model_config = ConfigDict(extra="forbid")
    steps: list[Step] = Field(min_length=1)
    loops: int = Field(default=0, ge=0, le=20, description="extra rounds through the steps when nobody acks")
    loop_after_s: float = Field(default=60.0, ge=0, le=3600, description="pause after the last step before a round")

    @field_validator("steps")
    @classmethod
    def _first_page_now(cls, steps: list[Step]) -> list[Step]:
        if steps and steps[0].after_s != 0:
            raise ValueError("the first step must have after_s: 0 (the first page is never delayed)")
        return steps


class Policies(BaseModel):
    model_config = ConfigDict(extra="forbid")
    water: Policy = Field(description="water_entry / person_in_water")
    camera: Policy = Field(description="camera_offline / self_test_failed: the control room, never the police")
    drill: Policy = Field(description="any event marked drill: test groups only")


class Templates(BaseModel):
    """str.format templates. Fields: {what} {place} {camera} {cameras} {date} {time} {map} {position} {link}
    {code} {drill}. {position} is the fall's latitude/longitude, or the camera's marked `approx` with its
    uncertainty; {link} is the signed evidence link (alerting/links.py), else the map link."""

    model_config = ConfigDict(extra="forbid")
    sms: str
    voice: str
    ack_confirm: str
    unknown_code: str
    what: dict[str, str] = Field(description="event kind -> words, e.g. water_entry: person i vandet")
    drill_prefix: str
    camera_sms: str | None = Field(default=None, description="camera trouble (offline, self-test): never reads "
                                   "as a drowning alert. Unset: the built-in text of this language")
    camera_voice: str | None = None
    date_format: str = Field(default="%-d/%-m", description="strftime of {date}, in the site's time zone")
    approx: str = Field(default="ca.", description="marks a position that is the camera's, not the fall's")


DEFAULT_TEMPLATES: dict[str, Templates] = {
    "da": Templates(
        sms="{drill}DRUKNEALARM {date} {time} {place} {cameras}: {what}. {position} {link} Svar {code} for at kvittere",
        voice="{drill}Druknealarm ved {place}. {what}. Klokken {time}. Svar på SMS med koden {code}.",
        camera_sms="{drill}KAMERAFEJL {cameras} {date} {time} {place}: {what}. Svar {code} for at kvittere",
        camera_voice="{drill}Kamerafejl. Kamera {place}: {what}. Klokken {time}. Svar på SMS med koden {code}.",
        ack_confirm="{drill}Kvitteret {code}: {place} {time}. Tak.",
        unknown_code="Koden {code} passer ikke til en åben alarm.",
        what={
            "water_entry": "person i vandet",
            "person_in_water": "person i vandet",
            "camera_offline": "kamera offline",
            "self_test_failed": "selvtest fejlet",
        },
        drill_prefix="ØVELSE ",
    ),
    "en": Templates(
        sms="{drill}DROWNING ALERT {date} {time} {place} {cameras}: {what}. {position} {link} Reply {code} to acknowledge",
        voice="{drill}Drowning alert at {place}. {what}. At {time}. Reply to the text with code {code}.",
        camera_sms="{drill}CAMERA FAULT {cameras} {date} {time} {place}: {what}. Reply {code} to acknowledge",
        camera_voice="{drill}Camera fault. Camera {place}: {what}. At {time}. Reply to the text with code {code}.",
        ack_confirm="{drill}Acknowledged {code}: {place} {time}. Thank you.",
        unknown_code="Code {code} matches no open alert.",
        what={
            "water_entry": "person in the water",
            "person_in_water": "person in the water",
            "camera_offline": "camera offline",
            "self_test_failed": "self-test failed",
        },
        drill_prefix="DRILL ",
        date_format="%-d %b",  # "3 Dec": never read as the 12th of March
    ),
}


class TwilioConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_sid: str = Field(default="AC00000000000000000000000000000000", pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token_env: str = Field(default="TWILIO_AUTH_TOKEN", pattern=ENV_NAME)
    from_number: str = Field(default="+4520000000", pattern=E164)
    public_url: str | None = Field(
        default=None, description="https URL Twilio reaches this service at; webhooks are signed against it"
    )
    api_base_url: str = Field(default="https://api.twilio.com", description="tests point this at Prism")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="one HTTP request to Twilio")
    retries: int = Field(default=3, ge=0, le=10, description="retries of transient failures only")
    backoff_s: float = Field(default=0.5, gt=0, le=60, description="first retry delay; doubles each retry")
    answer_wait_s: float = Field(
        default=15.0, ge=0, le=600,
        description="after a request that got no answer (read timeout, connection lost after sending) Twilio is "
        "asked whether it created the page only this long after, so one it is still creating is not sent twice")
    validity_period_s: int = Field(default=600, ge=1, le=36000, description="Twilio drops an SMS older than this")

    @property
    def longest_send_s(self) -> float:
        """The longest one page can take to send: every attempt timing out, with the backoff between them."""
        return (self.retries + 1) * self.timeout_s + self.backoff_s * (2**self.retries - 1)

    @field_validator("public_url", "api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value


class IntakeConfig(BaseModel):
    """What makes an event believable enough to page for. Events outside these bounds never page."""

    model_config = ConfigDict(extra="forbid")
    max_event_age_s: float = Field(
        default=600.0, gt=0, le=86_400,
        description="an event whose frame time is older than this when it arrives is stored and shown in the "
        "control room as late, never paged as new (a replay, or an edge that was offline that long). 10 min: "
        "an edge's outbox bridges a broker restart, and Twilio drops an SMS older than that anyway")
    max_future_skew_s: float = Field(
        default=300.0, gt=0, le=86_400,
        description="an event dated further than this ahead of this host's clock is rejected (a wrong clock or "
        "a forgery); generous, because rejecting a real fall for a fast camera clock is worse")
    rejected_prefix_bytes: int = Field(
        default=1024, ge=0, le=65_536, description="how much of a rejected payload is kept (rejected table)")


class LinkConfig(BaseModel):
    """The signed evidence link in each SMS (alerting/links.py): opens that incident only, on a phone, no login."""

    model_config = ConfigDict(extra="forbid")
    secret_env: str = Field(default="QUAYWATCH_LINK_SECRET", pattern=ENV_NAME,
                            description="environment variable with the HMAC key; unset: a random key per process "
                            "(links die at a restart and differ between nodes; logged)")
    ttl_s: int = Field(default=7200, ge=60, le=7 * 86400, description="a link works this long after the page")
    base_url: str | None = Field(default=None, description="https URL phones reach this service at; "
                                 "unset: twilio.public_url; neither: no link, the map link instead")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value


class CapEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    url: str = Field(description="http(s) URL the CAP messages are POSTed to")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class CapConfig(BaseModel):
    """CAP 1.2 for dispatch systems (alerting/cap.py): an Atom feed and a signed webhook POST per message."""

    model_config = ConfigDict(extra="forbid")
    sender: str = Field(default="quaywatch@localhost", pattern=r"^[^\s,<&]+$",
                        description="CAP <sender>: who issues the alerts, unique and unspaced")
    radius_km: float = Field(default=0.05, gt=0, le=50, description="the <circle> around a fall's own position")
    approx_radius_km: float = Field(default=0.15, gt=0, le=50,
                                    description="the <circle> when only the camera's position is known")
    endpoints: list[CapEndpoint] = Field(default_factory=list)
    webhook_secret_env: str = Field(default="QUAYWATCH_CAP_SECRET", pattern=ENV_NAME,
                                    description="HMAC-SHA256 key of X-Quaywatch-Signature; required with endpoints")
    feed_token_env: str = Field(default="QUAYWATCH_CAP_FEED_TOKEN", pattern=ENV_NAME,
                                description="Bearer token for /cap/ from other machines; unset: loopback only")
    retries: int = Field(default=5, ge=0, le=20)
    backoff_s: float = Field(default=1.0, gt=0, le=300, description="first retry delay; doubles each retry")
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class MaintenanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_duration_s: int = Field(default=12 * 3600, ge=60, le=12 * 3600,
                                description="a window ends on its own after at most this long (12 h at most)")


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0 = any free port")


class AlertingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="print and record messages instead of sending them")
    language: Language = "da"
    groups: dict[str, ContactGroup] = Field(default_factory=dict)
    policies: Policies | None = None
    templates: dict[str, Templates] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    twilio: TwilioConfig = Field(default_factory=TwilioConfig)
    store_url: str = Field(default="sqlite:///var/alerting/alerts.db", description="sqlite:///path or postgresql://...")
    store_reserve_mb: float = Field(
        default=32.0, ge=0, le=65_536,
        description="SQLite: space set aside beside the store file and given back when the disk fills, so events "
        "are still stored and paged (health then says 'store: disk full'); 0 = none")
    web: WebConfig = Field(default_factory=WebConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    grouping_window_s: float = Field(default=30.0, ge=0, le=600,
                                     description="events this close in time, from cameras near each other, page once")
    grouping_radius_m: float = Field(default=150.0, ge=0, le=10_000,
                                     description="cameras standing closer than this may see one incident")
    overlapping_cameras: list[list[str]] = Field(
        default_factory=list, description="camera ids that watch the same water whatever their distance")
    delivery_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="a page not confirmed delivered by then escalates at once"
    )
    inflight_lease_s: float = Field(
        default=60.0, gt=0, le=3600,
        description="a page still 'sending' this long after its claim has lost its sender (a node that died "
        "mid-send): any node asks Twilio whether it left and sends it again once if not. A node's own "
        "claims from before its restart are reconciled at once. Must exceed twice the longest a live node holds a "
        "claim: twilio.timeout_s x (retries + 2) plus the backoff",
    )
    owed_retry_max_s: float = Field(
        default=30.0, ge=1, le=600,
        description="a page whose send failed transiently (Twilio down, timing out) is owed and retried until "
        "delivered or acknowledged, Twilio asked first each time; the wait between retries grows with the page's "
        "age up to this. When Twilio answers again, everything owed is retried at once",
    )
    unknown_sender_limit: int = Field(default=3, ge=0, description="replies answered per unknown number per hour")
    wrong_code_answers: int = Field(
        default=3, ge=0, le=100, description="wrong acknowledgement codes answered by SMS per phone per hour; "
        "later ones are stored and counted, never answered")
    ack_code_attempts: int = Field(
        default=10, ge=1, le=1000, description="wrong codes per phone per hour after which that phone's codes are "
        "not even looked up for the rest of the hour (4-5 digit codes must not be guessed by trying them all)")
    place_max_chars: int = Field(default=24, ge=4, le=60, description="place names are shortened to fit one SMS")
    position_uncertainty_m: float = Field(
        default=150.0, gt=0, le=10_000,
        description="how far from its camera a fall may be, said with the camera's position when the event has none")
    links: LinkConfig = Field(default_factory=LinkConfig)
    cap: CapConfig = Field(default_factory=CapConfig)
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    instance_id: str = Field(default="alerting-1", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    subscription: Literal["own", "shared"] = Field(
        default="own",
        description="own: each instance keeps its own persistent subscription and sees every event (the shared "
        "store pages each once); survives broker restarts on Mosquitto, which does not persist shared "
        "subscriptions. shared: instances split the stream ($share), for brokers that persist it (EMQX, HiveMQ)",
    )

    @field_validator("templates")
    @classmethod
    def _both_languages(cls, value: dict[str, Templates]) -> dict[str, Templates]:
        merged = {**DEFAULT_TEMPLATES, **value}
        for lang, tpl in merged.items():  # a site's own templates keep the built-in camera-fault wording
            base = DEFAULT_TEMPLATES.get(lang, DEFAULT_TEMPLATES["en"])
            fill = {k: getattr(base, k) for k in ("camera_sms", "camera_voice") if getattr(tpl, k) is None}
            if fill:
                merged[lang] = tpl.model_copy(update=fill)
        return merged

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> AlertingConfig:
        # A live node holds its claim for at most one send (and a reconciler for one lookup and one send).
        # A lease shorter than that would let a second node send a page its sender is still sending. Twice
        # the bound: requests applies the timeout to connecting and to each read, and sends queue for workers.
        floor = 2 * (self.twilio.longest_send_s + self.twilio.timeout_s)
        if self.inflight_lease_s <= floor:
            raise ValueError(
                f"inflight_lease_s: {self.inflight_lease_s:g} s is too short: a live node may still be sending "
                f"a page for up to {floor / 2:g} s (twilio.timeout_s x (retries + 2) plus backoff); use more "
                f"than {floor:g} s")
        return self

    @model_validator(mode="after")
    def _policies_reference_groups(self) -> AlertingConfig:
        if self.policies is None:
            return self
        for pname in ("water", "camera", "drill"):
            policy: Policy = getattr(self.policies, pname)
            for i, step in enumerate(policy.steps):
                for gname in step.notify:
                    where = f"policies.{pname}.steps[{i}].notify"
                    group = self.groups.get(gname)
                    if group is None:
                        known = ", ".join(self.groups) or "none defined"
                        raise ValueError(f"{where}: unknown group {gname!r} (groups: {known})")
                    if pname == "drill" and group.kind != "test":
                        raise ValueError(f"{where}: drills may only page test groups, {gname!r} is {group.kind}")
                    if pname == "camera" and group.kind == "police":
                        raise ValueError(f"{where}: camera trouble must not page the police ({gname!r})")
        return self

    def group_of_kind(self, kind: str) -> list[str]:
        return [name for name, g in self.groups.items() if g.kind == kind]
