-- Approvals: a ticket that may only proceed once a manager agrees.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets(id),
    approver     TEXT    NOT NULL,
    -- Single use: a decision must carry it, and once decided it is spent.
    token        TEXT    NOT NULL UNIQUE,
    requested_at INTEGER NOT NULL,
    reminded_at  INTEGER,
    escalated_at INTEGER,
    decided_at   INTEGER,
    decision     TEXT CHECK (decision IN ('approved', 'rejected')),
    reason       TEXT
);
CREATE INDEX approvals_ticket ON approvals(ticket_id);
CREATE INDEX approvals_pending ON approvals(requested_at) WHERE decided_at IS NULL;
