"""Sending pages: the Twilio pager, the dry-run pager, and the words of every message."""

from quaywatch.alerting.notify.dry_run import DryRunPager
from quaywatch.alerting.notify.pager import Found, LookupFailed, Page, Pager, SendError, Sent

__all__ = ["DryRunPager", "Found", "LookupFailed", "Page", "Pager", "SendError", "Sent"]
