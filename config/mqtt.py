"""How to reach the MQTT broker. No `host` means: start the embedded broker (amqtt) on loopback."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from quaywatch.config.camera import ENV_NAME


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, description="broker host; unset = embedded broker on 127.0.0.1")
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=ENV_NAME)
    tls: bool = False
    ca_file: str | None = None
    topic_prefix: str = Field(default="quaywatch", pattern=r"^[A-Za-z0-9_-]+$")
