"""The dry-run pager (demo, tests): records and prints the exact message that would go out, sends nothing."""

from __future__ import annotations

import hashlib
import sys
from typing import TextIO

from quaywatch.alerting.notify.pager import Page, Sent


class DryRunPager:
    def __init__(self, out: TextIO | None = None):
        self.out = out if out is not None else sys.stdout
        self.sent: list[Page] = []

    async def send(self, page: Page) -> Sent:
        self.sent.append(page)
        who = f" ({page.person})" if page.person else ""
        drill = " [DRILL]" if page.drill else ""
        print(f"DRY-RUN {page.channel.upper()}{drill} to {page.to}{who}: {page.body}", file=self.out, flush=True)
        sid = ("SM" if page.channel == "sms" else "CA") + hashlib.sha256(page.key.encode()).hexdigest()[:32]
        return Sent(sid=sid, status="dry-run", attempts=1)

    async def close(self) -> None:
        return None
