"""How to reach the MQTT broker, and as whom. No `host` means: start the embedded broker (amqtt) on loopback.

Every client has its own account: the edge worker publishes only its cameras' topics, alerting (with the
control room) only reads. `edge:` and `alerting:` name each role's user and the environment variable with
its password. Left out on the embedded broker, quaywatch generates the passwords once per install under
`credentials_dir`; left out on a named broker, the top-level `username`/`password_env` (one shared
account) or none is used, and that broker's own accounts decide (`quaywatch mqtt-accounts` writes
Mosquitto's password_file and acl_file from this config).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quaywatch.config.camera import ENV_NAME
from quaywatch.config.secrets import secret_from_env


class MqttAccount(BaseModel):
    """One client's broker account; the password only by the name of its environment variable."""

    model_config = ConfigDict(extra="forbid")

    # No ':' (Mosquitto's password_file separates user and hash with it), no spaces, no control characters.
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    password_env: str = Field(pattern=ENV_NAME, description="environment variable holding this account's password")


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, description="broker host; unset = embedded broker on 127.0.0.1")
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="environment variable holding the broker password"
    )
    edge: MqttAccount | None = Field(default=None, description="the edge worker's account (publishes only)")
    alerting: MqttAccount | None = Field(default=None, description="alerting's and the control room's (reads only)")
    credentials_dir: str = Field(
        default="var/mqtt", description="embedded broker: generated passwords (0600) and its account file")
    tls: bool = False
    ca_file: str | None = Field(default=None, description="CA bundle for TLS; unset = the system's")
    topic_prefix: str = Field(default="quaywatch", pattern=r"^[A-Za-z0-9_-]+$")
    keepalive_s: int = Field(default=10, ge=2, le=600, description="a dead link is noticed within ~1.5x this")
    publish_timeout_s: float = Field(default=10.0, gt=0, le=300, description="wait this long for a PUBACK")
    max_publish_attempts: int = Field(
        default=10, ge=2, le=1000,
        description="an event whose publish broke the connection this often is set aside (outbox `dead` table) "
        "so it cannot hold back the events behind it",
    )
    reconnect_min_s: float = Field(default=0.2, gt=0, description="first reconnect delay; doubles up to the max")
    reconnect_max_s: float = Field(default=5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _auth(self) -> MqttConfig:
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is not")
        if self.ca_file and not self.tls:
            raise ValueError("ca_file is set but tls is false")
        return self


def broker_password(cfg: MqttConfig) -> str | None:
    return secret_from_env(cfg.password_env, "mqtt.password_env")
