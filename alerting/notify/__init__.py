"""Sending pages: the Twilio pager, the dry-run pager, and the words of every message."""

from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.notify.pager import Page, Pager, SendError, Sent

__all__ = ["DryRunPager", "Page", "Pager", "SendError", "Sent"]
