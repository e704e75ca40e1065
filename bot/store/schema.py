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
    # 4: admin controls per server (allowances by role, budgets, bans, channels, words, prices, audit);
    # the ledger learns grants/takes/admin refunds and which part of a job was paid from granted credits
    # (SQLite cannot change a CHECK constraint in place, so the ledger is rebuilt with its rows).
    """
    ALTER TABLE guild_settings ADD COLUMN daily_default INTEGER;
    ALTER TABLE guild_settings ADD COLUMN daily_budget INTEGER;
    ALTER TABLE guild_settings ADD COLUMN max_jobs INTEGER;
    ALTER TABLE guild_settings ADD COLUMN nsfw_only INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE role_allowances (
        guild_id BIGINT NOT NULL,
        role_id BIGINT NOT NULL,
        credits INTEGER NOT NULL,
        PRIMARY KEY (guild_id, role_id)
    );
    CREATE TABLE bans (
        guild_id BIGINT NOT NULL,
        user_id BIGINT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        until REAL,
        told INTEGER NOT NULL DEFAULT 0,
        by_user BIGINT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    CREATE TABLE channel_rules (
        guild_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        rule TEXT NOT NULL CHECK (rule IN ('allow', 'deny')),
        PRIMARY KEY (guild_id, channel_id)
    );
    CREATE TABLE word_list (
        guild_id BIGINT NOT NULL,
        entry_key TEXT NOT NULL,
        word TEXT NOT NULL,
        PRIMARY KEY (guild_id, entry_key)
    );
    CREATE TABLE price_overrides (
        provider TEXT NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        mode TEXT NOT NULL,
        credits_per_second INTEGER NOT NULL,
        PRIMARY KEY (provider, kind, model, mode)
    );
    -- id: SQLite's rowid, the order changes were made
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        guild_id BIGINT,
        actor_id BIGINT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        old TEXT NOT NULL DEFAULT '',
        new TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    CREATE INDEX audit_log_guild ON audit_log(guild_id, id);
    CREATE TABLE ledger_v4 (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'refund', 'grant', 'take', 'admin_refund')),
        user_id BIGINT NOT NULL,
        guild_id BIGINT,
        job_id TEXT,
        amount INTEGER NOT NULL,
        from_granted INTEGER NOT NULL DEFAULT 0,
        period TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        by_user BIGINT,
        at REAL NOT NULL
    );
    INSERT INTO ledger_v4(id, kind, user_id, guild_id, job_id, amount, period, reason, at)
        SELECT id, kind, user_id, guild_id, job_id, amount, period, reason, at FROM ledger;
    DROP TABLE ledger;
    ALTER TABLE ledger_v4 RENAME TO ledger;
    -- a job is reserved, committed, refunded and refunded by an admin at most once each
    CREATE UNIQUE INDEX ledger_job_kind ON ledger(job_id, kind) WHERE job_id IS NOT NULL;
    CREATE INDEX ledger_period ON ledger(period, user_id);
    CREATE INDEX ledger_member ON ledger(guild_id, user_id);
    """,
    # 5: results and remixes: a job's lineage (which job it reuses, which message its result
    # answers) and when the retention sweep deleted its files
    """
    CREATE TABLE job_links (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id),
        parent_job_id TEXT REFERENCES jobs(id),
        relation TEXT NOT NULL,
        reply_channel_id BIGINT,
        reply_to_message_id BIGINT,
        created_at REAL NOT NULL
    );
    CREATE INDEX job_links_parent ON job_links(parent_job_id);
    CREATE TABLE job_files (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id),
        swept_at REAL NOT NULL
    );
    CREATE INDEX jobs_finished ON jobs(finished_at);
    """,
    # 6: motion challenges (issue 9): a server's shared event, its entries (jobs) and their votes,
    # which role (besides Manage Server) may start one; an index for the dispatcher's round-robin.
    # `challenges.id` is SQLite's rowid on purpose: a short number for button ids (PostgreSQL: an
    # identity column).
    """
    CREATE TABLE challenges (
        id INTEGER PRIMARY KEY,
        guild_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        card_message_id BIGINT,
        thread_id BIGINT,
        title TEXT NOT NULL,
        started_by BIGINT NOT NULL,
        clip_path TEXT NOT NULL,
        clip_filename TEXT NOT NULL,
        clip_seconds REAL NOT NULL,
        mode TEXT NOT NULL,
        orientation TEXT NOT NULL,
        charge TEXT NOT NULL CHECK (charge IN ('member', 'server')),
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closing', 'closed')),
        locale TEXT,
        created_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        closed_at REAL,
        results_message_id BIGINT
    );
    CREATE INDEX challenges_due ON challenges(state, ends_at);
    CREATE INDEX challenges_guild ON challenges(guild_id, state);
    CREATE TABLE challenge_entries (
        job_id TEXT PRIMARY KEY REFERENCES jobs(id),
        challenge_id INTEGER NOT NULL REFERENCES challenges(id),
        user_id BIGINT NOT NULL,
        created_at REAL NOT NULL,
        message_id BIGINT
    );
    CREATE INDEX challenge_entries_challenge ON challenge_entries(challenge_id, user_id);
    CREATE TABLE challenge_votes (
        job_id TEXT NOT NULL REFERENCES challenge_entries(job_id),
        voter_id BIGINT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (job_id, voter_id)
    );
    -- who started lately, for the dispatcher's round-robin (bot/store/member_jobs.py)
    CREATE INDEX jobs_submitted ON jobs(submitted_at);
    CREATE TABLE challenge_settings (
        guild_id BIGINT PRIMARY KEY,
        starter_role_id BIGINT,
        updated_by BIGINT NOT NULL,
        updated_at REAL NOT NULL
    );
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
