"""Schema migrations, numbered and applied in order; `schema_version` remembers the last one applied.

The SQL is written once for SQLite and PostgreSQL; `{serial}` is the one word that differs.
Times are epoch seconds (REAL / double precision) so both engines compare them the same way.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE site_locks (site TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            category TEXT NOT NULL,
            kind TEXT NOT NULL,
            drill INTEGER NOT NULL,
            state TEXT NOT NULL,
            closed_as TEXT,
            cameras TEXT NOT NULL,
            first_time DOUBLE PRECISION NOT NULL,
            opened_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            lat DOUBLE PRECISION,
            lon DOUBLE PRECISION,
            ack_code TEXT NOT NULL,
            acked_by TEXT,
            acked_at DOUBLE PRECISION,
            step INTEGER NOT NULL DEFAULT -1,
            loop INTEGER NOT NULL DEFAULT 0,
            step_sent_at DOUBLE PRECISION,
            next_due_at DOUBLE PRECISION,
            delivery_check_at DOUBLE PRECISION
        );
        CREATE INDEX incidents_by_state ON incidents (site, state, opened_at);
        CREATE INDEX incidents_due ON incidents (next_due_at);
        CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            incident_id TEXT,
            site TEXT NOT NULL,
            camera TEXT NOT NULL,
            kind TEXT NOT NULL,
            drill INTEGER NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX events_by_incident ON events (incident_id);
        CREATE TABLE transitions (
            id {serial},
            incident_id TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            note TEXT
        );
        CREATE INDEX transitions_by_incident ON transitions (incident_id);
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            incident_id TEXT,
            direction TEXT NOT NULL,
            channel TEXT NOT NULL,
            step INTEGER,
            loop INTEGER,
            person TEXT,
            to_number TEXT NOT NULL,
            from_number TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            provider_sid TEXT,
            error_code TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX messages_by_incident ON messages (incident_id);
        CREATE INDEX messages_by_sid ON messages (provider_sid);
        CREATE TABLE message_events (
            id {serial},
            message_id TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            error_code TEXT,
            detail TEXT
        );
        CREATE INDEX message_events_by_message ON message_events (message_id);
        """,
    ),
    (
        2,
        # Who holds each outgoing page's claim, and since when: a claim left 'sending' by a node that died
        # is reconciled with the provider by its next incarnation at once, by any other node after a lease.
        # Rows from before have no claimant; their claim counts from their creation. The partial index
        # keeps the reconciler's sweep over the few in-flight rows cheap however long the history grows.
        """
        ALTER TABLE messages ADD COLUMN claimed_by TEXT;
        ALTER TABLE messages ADD COLUMN claimed_at DOUBLE PRECISION;
        UPDATE messages SET claimed_at = created_at;
        CREATE INDEX messages_in_flight ON messages (claimed_at) WHERE status = 'sending';
        """,
    ),
    (
        3,
        # Intake's dead letters: every payload it refused (unparseable, invalid, an unknown camera, dated too
        # far ahead) with why, where from, its size and a bounded prefix, so a refusal is acknowledged and
        # never comes back, yet can be looked at. `late`: an event stored but never paged, its frame older than
        # alerting.intake.max_event_age_s when it arrived (the control room shows it as late).
        """
        CREATE TABLE rejected (
            id {serial},
            at DOUBLE PRECISION NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            topic TEXT NOT NULL,
            size INTEGER NOT NULL,
            prefix TEXT NOT NULL
        );
        CREATE INDEX rejected_by_time ON rejected (at);
        ALTER TABLE events ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        4,
        # Pages owed: a send that failed transiently (Twilio down, timing out) is retried from `retry_at` on
        # until it is delivered or its incident stops paging. `claim_token` fences a claim: it grows each time
        # the claim changes hands, and a sender checks it (with its lease) right before the request leaves.
        """
        ALTER TABLE messages ADD COLUMN retry_at DOUBLE PRECISION;
        ALTER TABLE messages ADD COLUMN claim_token BIGINT NOT NULL DEFAULT 0;
        CREATE INDEX messages_owed ON messages (retry_at) WHERE status = 'failed';
        """,
    ),
    (
        5,
        # Dispatch (issue 14): who acknowledged for which agency (alerting/acks.py); maintenance windows that
        # mute a camera or a zone of it until they end (alerting/maintenance.py); the CAP messages handed to
        # each dispatch endpoint, claimed once per (message, endpoint) by whichever node sends it (alerting/cap*).
        """
        CREATE TABLE agency_acks (
            incident_id TEXT NOT NULL,
            agency TEXT NOT NULL,
            acked_by TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            via TEXT,
            PRIMARY KEY (incident_id, agency)
        );
        CREATE TABLE maintenance_windows (
            id {serial},
            site TEXT NOT NULL,
            camera TEXT NOT NULL,
            zone TEXT,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            starts_at DOUBLE PRECISION NOT NULL,
            ends_at DOUBLE PRECISION NOT NULL,
            ended_by TEXT
        );
        CREATE INDEX maintenance_by_end ON maintenance_windows (site, ends_at);
        CREATE TABLE cap_deliveries (
            identifier TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            http_status INTEGER,
            detail TEXT,
            claimed_by TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (identifier, endpoint)
        );
        """,
    ),
    (
        6,
        # When the fencing check first let a request for this page leave (alerting/store/alerts.py `fence`).
        # NULL: none ever left, so the provider cannot have it and the lookup before a resend is skipped; else
        # the lookup counts only what the provider created after it. A Call resource carries no text, so
        # without this a page that never left took another incident's call to the same number as its own
        # (bench/chaos.py found it: one call made twice, the other never). Rows from before: may have left.
        """
        ALTER TABLE messages ADD COLUMN left_at DOUBLE PRECISION;
        UPDATE messages SET left_at = created_at;
        """,
    ),
]

SERIAL = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "BIGSERIAL PRIMARY KEY"}


def statements(dialect: str, sql: str) -> list[str]:
    return [s.strip() for s in sql.replace("{serial}", SERIAL[dialect]).split(";") if s.strip()]


def pending(current: int) -> list[tuple[int, str]]:
    return [(n, sql) for n, sql in MIGRATIONS if n > current]
