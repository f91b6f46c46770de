"""Alerting: consume events, run each alert's life (new -> paged -> acknowledged -> resolved), page by SMS."""
