"""Twilio webhooks: inbound SMS (acknowledgements) and delivery status callbacks. Both signed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from quaywatch.alerting.web.signature import signed_form

router = APIRouter(prefix="/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@router.post("/sms")
async def inbound_sms(request: Request) -> Response:
    form = await signed_form(request, "sms")
    svc = request.app.state.service
    await svc.replies.handle(form.get("MessageSid", form.get("SmsSid", "")), form.get("From", ""), form.get("Body", ""))
    # Replies go out through the pager (recorded, idempotent), so the TwiML answer stays empty.
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/status")
async def status_callback(request: Request, m: str = "") -> Response:
    form = await signed_form(request, "status")
    svc = request.app.state.service
    status = form.get("MessageStatus") or form.get("CallStatus") or "unknown"
    await svc.delivery_status(m, status, form.get("ErrorCode") or None,
                              form.get("MessageSid") or form.get("CallSid"))
    return Response(status_code=204)
