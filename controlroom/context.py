"""Everything the route modules share: the backend, the guard, templates and the page language."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from quaywatch.config.controlroom import ControlRoomConfig
from quaywatch.controlroom.backend import ControlRoomBackend
from quaywatch.controlroom.evidence_relay import EvidenceSources
from quaywatch.controlroom.i18n import pick_language, texts
from quaywatch.controlroom.security import LANG_COOKIE, Guard
from quaywatch.controlroom.throttle import LoginThrottle
from quaywatch.controlroom.users import Session, UserStore
from quaywatch.controlroom.views import AlertView

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")


@dataclass
class Context:
    backend: ControlRoomBackend
    config: ControlRoomConfig
    users: UserStore
    guard: Guard
    throttle: LoginThrottle
    view: AlertView
    prefix: str
    site_path: str            # the site file as a fixture sidecar names it (relative to recordings_fixtures/)
    evidence: EvidenceSources  # where clips come from (never a URL an event names)

    def lang(self, request: Request) -> str:
        return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                             self.config.language)

    def render(self, request: Request, template: str, session: Session | None, status: int = 200,
               **extra: Any):
        lang = self.lang(request)
        t = texts(lang)
        ctx = {
            "t": t, "lang": lang, "other_lang": "en" if lang == "da" else "da", "prefix": self.prefix,
            "session": session, "user": session.user if session else None,
            "csrf": session.csrf if session else "", "site_name": self.backend.site_name,
            "texts_json": json.dumps(t, ensure_ascii=False), **extra,
        }
        resp = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status)
        if request.query_params.get("lang") == lang:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path=self.prefix, samesite="lax",
                            httponly=True, secure=self.guard.secure_cookie(request))
        # The page shows live alert data: never let a shared proxy or the back button show a stale copy.
        resp.headers["Cache-Control"] = "no-store"
        # Only our own script and styles run; no other site may frame the page (a hidden "acknowledge").
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        return resp
