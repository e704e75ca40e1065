"""The schema: versioned migrations, applied in order at open. Written for SQLite; PostgreSQL gets
them through `bot.store.dialect.to_postgres_ddl` (types, identities), its version in a table."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: jobs, their history, the credit ledger, key/value metadata
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        provider TEXT NOT NULL,
        request_json TEXT NOT NULL,
        price INTEGER NOT NULL,
        upload_limit INTEGER NOT NULL,
        provider_task_id TEXT,
        provider_status TEXT,
        provider_cost TEXT,
        result_url TEXT,
        error_kind TEXT,
        error_message TEXT,
        error_detail TEXT,
        poll_attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submitted_at REAL,
        finished_at REAL,
        delivered_at REAL,
        notified_at REAL,
        message_id INTEGER
    );
    CREATE INDEX jobs_state ON jobs(state, created_at);
    CREATE INDEX jobs_user ON jobs(user_id, state);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        note TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX job_events_job ON job_events(job_id);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'refund', 'grant')),
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        job_id TEXT,
        amount INTEGER NOT NULL,
        period TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    -- a job is reserved, committed and refunded at most once each
    CREATE UNIQUE INDEX ledger_job_kind ON ledger(job_id, kind) WHERE job_id IS NOT NULL;
    CREATE INDEX ledger_period ON ledger(period, user_id);
    """,
    # 2: per-guild choices admins make (which provider runs the guild's jobs)
    """
    CREATE TABLE guild_settings (
        guild_id INTEGER PRIMARY KEY,
        provider TEXT,
        updated_by INTEGER,
        updated_at REAL NOT NULL
    );
    """,
    # 3: a provider's "come back later" survives a restart; acknowledged commands survive a crash
    """
    ALTER TABLE jobs ADD COLUMN not_before REAL;
    CREATE TABLE intake_requests (
        interaction_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER,
        application_id INTEGER,
        token_sealed TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        job_id TEXT,
        outcome TEXT,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX intake_requests_state ON intake_requests(state, created_at);
    """,
    # 7: leases: which process works on a job ('job:<id>'), which leads once-per-bot work
    # ('leader:<name>'); several bot processes share a PostgreSQL database (issue 12)
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until REAL NOT NULL
    );
    CREATE INDEX leases_holder ON leases(holder);
    """,
]

# Every change of a job's state writes its history row in the same statement. A TEMP trigger
# (this connection's own, made at each open) so it needs no schema migration; every writer of
# job states is a Store, so every one has it.

HISTORY_TRIGGER = """
CREATE TEMP TRIGGER IF NOT EXISTS job_history AFTER UPDATE OF state ON main.jobs
WHEN old.state IS NOT new.state
BEGIN
    INSERT INTO job_events(job_id, from_state, to_state, note, at)
    VALUES (new.id, old.state, new.state, '', new.updated_at);
END
"""


# The same on PostgreSQL, where a trigger is part of the schema (made or replaced at each open,
# under the migration lock). It also tells every process that a job moved (LISTEN job_moved):
# a callback recorded by one process reaches the process that owns the job.
PG_HISTORY_TRIGGER = """
CREATE OR REPLACE FUNCTION job_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_events(job_id, from_state, to_state, note, at)
    VALUES (NEW.id, OLD.state, NEW.state, '', NEW.updated_at);
    PERFORM pg_notify('job_moved', NEW.id || ' ' || NEW.state);
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER job_history AFTER UPDATE OF state ON jobs
FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION job_history();
"""
