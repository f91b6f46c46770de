"""Admins manage users on the page as well as with `quaywatch users`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from quaywatch.controlroom.context import Context
from quaywatch.controlroom.metrics import ACTIONS, REFUSED
from quaywatch.controlroom.security import read_form
from quaywatch.errors import QuaywatchError


def add_routes(router: APIRouter, ctx: Context) -> None:
    @router.get("/users", include_in_schema=False)
    async def users_page(request: Request):
        s = ctx.guard.page(request, "admin")
        return ctx.render(request, "users.html", s, users=ctx.users.list(), error=request.query_params.get("error"))

    @router.post("/users", include_in_schema=False)
    async def add_user(request: Request):
        s = ctx.guard.api(request, "admin")
        form = await read_form(request)
        ctx.guard.check_form_csrf(s, str(form.get("csrf", "")))
        try:
            await run_in_threadpool(ctx.users.add, str(form.get("name", ""))[:64], str(form.get("role", "")),
                                    str(form.get("password", ""))[:256])
        except QuaywatchError as exc:
            REFUSED.labels("bad_request").inc()
            return ctx.render(request, "users.html", s, status=400, users=ctx.users.list(), error=str(exc))
        ACTIONS.labels("add_user").inc()
        return RedirectResponse(f"{ctx.prefix}/users", status_code=303)

    @router.post("/users/{name}/remove", include_in_schema=False)
    async def remove_user(request: Request, name: str):
        s = ctx.guard.api(request, "admin")
        form = await read_form(request)
        ctx.guard.check_form_csrf(s, str(form.get("csrf", "")))
        if name == s.user.name:
            raise HTTPException(409, "you cannot remove yourself")
        try:
            ctx.users.remove(name)
        except QuaywatchError as exc:
            raise HTTPException(404, str(exc)) from None
        ACTIONS.labels("remove_user").inc()
        return RedirectResponse(f"{ctx.prefix}/users", status_code=303)
