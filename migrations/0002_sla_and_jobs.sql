-- SLA deadlines and once-only timed work.

-- Deadlines computed on the business calendar when the ticket gets its priority, shifted when
-- the clock pauses (status waiting, awaiting-approval): `sla_paused_at` is when the current
-- pause began, NULL while the clock runs.
ALTER TABLE tickets ADD COLUMN response_due_at   INTEGER;
ALTER TABLE tickets ADD COLUMN resolution_due_at INTEGER;
ALTER TABLE tickets ADD COLUMN sla_paused_at     INTEGER;
CREATE INDEX tickets_open_due ON tickets(status, resolution_due_at);

-- Each SLA step (warning, breach per target, escalation level) happens once per ticket: the
-- step is inserted in the same transaction as its mails, and the primary key refuses a repeat.
CREATE TABLE sla_steps (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    step      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, step)
) WITHOUT ROWID;

-- Timed jobs that run once per period (the daily digest for a date, the monthly recap for a
-- month): inserted with the job's mails, so a restart neither repeats nor skips one.
CREATE TABLE job_runs (
    job    TEXT    NOT NULL,
    period TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (job, period)
) WITHOUT ROWID;
