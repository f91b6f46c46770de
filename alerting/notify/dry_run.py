"""The dry-run pager (demo, tests): records and prints the exact message that would go out, sends nothing.

It answers the same lookup as Twilio's list APIs over what it recorded in this process, so reconciliation
of a page left in flight behaves the same in a dry run: a page this process never "sent" is sent again.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import TextIO

from quaywatch.alerting.notify.pager import Fenced, Found, Page, Sent


class DryRunPager:
    def __init__(self, out: TextIO | None = None):
        self.out = out if out is not None else sys.stdout
        self.sent: list[Page] = []
        self._sent_at: list[float] = []  # wall time of each page in `sent`

    async def send(self, page: Page) -> Sent:
        if page.fence is not None and not page.fence():
            raise Fenced(f"{page.channel} to {page.to}: claim no longer held by this node: not sent")
        self.sent.append(page)
        self._sent_at.append(time.time())
        who = f" ({page.person})" if page.person else ""
        drill = " [DRILL]" if page.drill else ""
        print(f"DRY-RUN {page.channel.upper()}{drill} to {page.to}{who}: {page.body}", file=self.out, flush=True)
        return Sent(sid=self.sid_of(page), status="dry-run", attempts=1)

    async def find_sent(self, page: Page, since: float) -> list[Found]:
        return [Found(self.sid_of(p), "dry-run", at) for p, at in zip(self.sent, self._sent_at, strict=True)
                if at >= since and (p.channel, p.to, p.body) == (page.channel, page.to, page.body)]

    @staticmethod
    def sid_of(page: Page) -> str:
        return ("SM" if page.channel == "sms" else "CA") + hashlib.sha256(page.key.encode()).hexdigest()[:32]

    async def close(self) -> None:
        return None
