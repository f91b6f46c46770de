"""Durable alert store: SQLite (WAL) by default, PostgreSQL by URL for several nodes; migrations on open."""

from quaywatch.alerting.store.alerts import OPEN_STATES, PAGING_STATES, AlertStore
from quaywatch.alerting.store.db import Database

__all__ = ["OPEN_STATES", "PAGING_STATES", "AlertStore", "Database"]
