"""The alerting service: contacts, paging policy, message templates, store, web."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
