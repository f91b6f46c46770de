"""Log in and log out. The login form is protected against login CSRF by a double-submit token."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.context import Context
from quaywatch.controlroom.i18n import texts
from quaywatch.controlroom.metrics import LOGINS, REFUSED
from quaywatch.controlroom.security import COOKIE, client_address, read_form

LOGIN_CSRF_COOKIE = "quaywatch_login"
MAX_FIELD = 256


def _safe_next(prefix: str, target: str | None) -> str:
    """Only a path inside the control room: never an open redirect to another site."""
    if target and target.startswith(prefix + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return prefix + "/"


def add_routes(router: APIRouter, ctx: Context) -> None:
    def login_form(request: Request, error: str | None = None, status: int = 200, next_target: str | None = None):
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        resp = ctx.render(request, "login.html", None, status=status, error=error, login_csrf=token,
                          next=_safe_next(ctx.prefix, next_target or request.query_params.get("next")))
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, path=ctx.prefix, httponly=True, samesite="strict",
                        secure=ctx.guard.secure_cookie(request))
        return resp

    @router.get("/login", include_in_schema=False)
    async def login_page(request: Request):
        return login_form(request)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request):
        t = texts(ctx.lang(request))
        form = await read_form(request)
        name, password = str(form.get("user", ""))[:MAX_FIELD], str(form.get("password", ""))[:MAX_FIELD]
        sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")
        target = str(form.get("next", ""))
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            REFUSED.labels("csrf").inc()
            LOGINS.labels("csrf").inc()
            return login_form(request, t["session_expired"], 403, target)
        client = client_address(request, ctx.config.trusted_proxies)
        keys = ctx.throttle.keys(name, client)
        wait = ctx.throttle.retry_after(keys)
        if wait > 0:
            LOGINS.labels("throttled").inc()
            resp = login_form(request, t["login_throttled"].format(s=int(wait) + 1), 429, target)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        user = await run_in_threadpool(ctx.users.authenticate, name, password)  # Argon2 is slow by design
        if user is None:
            ctx.throttle.failed(keys)
            LOGINS.labels("failed").inc()
            return login_form(request, t["login_failed"], 401, target)
        ctx.throttle.succeeded(keys)
        LOGINS.labels("ok").inc()
        token, _ = ctx.users.open_session(user, ctx.config.session_max_age_s)
        resp = RedirectResponse(_safe_next(ctx.prefix, target), status_code=303)
        resp.set_cookie(COOKIE, token, max_age=ctx.config.session_max_age_s, path=ctx.prefix, httponly=True,
                        samesite="lax", secure=ctx.guard.secure_cookie(request))
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path=ctx.prefix)
        return resp

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        s = ctx.guard.api(request)
        form = await read_form(request)
        ctx.guard.check_form_csrf(s, str(form.get("csrf", "")))
        ctx.users.close_session(request.cookies.get(COOKIE))
        resp = RedirectResponse(f"{ctx.prefix}/login", status_code=303)
        resp.delete_cookie(COOKIE, path=ctx.prefix)
        return resp
