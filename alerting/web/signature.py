"""Twilio webhook authenticity: X-Twilio-Signature checked with twilio's RequestValidator against the
public URL from the config (what Twilio signed), not the URL we happen to see behind a proxy."""

from __future__ import annotations

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator


async def signed_form(request: Request, hook: str) -> dict[str, str]:
    """The webhook's form parameters, or 403 (counted) when the signature is missing or wrong."""
    svc = request.app.state.service
    form = {k: str(v) for k, v in (await request.form()).items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    public = svc.site.alerting.twilio.public_url
    token = svc.auth_token
    url = f"{public}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "") if public else ""
    if not signature or not token or not public or not RequestValidator(token).validate(url, form, signature):
        svc.metrics.forbidden.labels(hook).inc()
        reason = ("missing X-Twilio-Signature" if not signature else
                  "no auth token or public_url configured" if not token or not public else "invalid X-Twilio-Signature")
        raise HTTPException(403, reason)
    return form
