"""How to reach the MQTT broker. No `host` means: start the embedded broker (amqtt) on loopback."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quaywatch.config.camera import ENV_NAME
from quaywatch.config.secrets import secret_from_env


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, description="broker host; unset = embedded broker on 127.0.0.1")
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME, description="environment variable holding the broker password"
    )
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
