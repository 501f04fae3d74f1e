-- Loket schema, version 1. Times are Unix milliseconds (UTC). Ticket numbers are tickets.id, so
-- [HD-42] is the ticket with id 42 and one sequence serves every mailbox.

CREATE TABLE tickets (
    id                INTEGER PRIMARY KEY,
    subject           TEXT    NOT NULL,
    requester_email   TEXT    NOT NULL,
    requester_name    TEXT,
    status            TEXT    NOT NULL DEFAULT 'new',
    priority          TEXT,
    category          TEXT,
    level             INTEGER NOT NULL DEFAULT 1,
    owner             TEXT,
    language          TEXT    NOT NULL,
    parent_id         INTEGER REFERENCES tickets(id),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    first_response_at INTEGER,
    resolved_at       INTEGER,
    closed_at         INTEGER
);
CREATE INDEX tickets_status ON tickets(status);
CREATE INDEX tickets_created ON tickets(created_at);

-- Everyone who may write to a ticket: the requester, CC'd people, technicians who took part.
CREATE TABLE participants (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    email     TEXT    NOT NULL,
    name      TEXT,
    role      TEXT    NOT NULL CHECK (role IN ('requester', 'cc', 'technician')),
    PRIMARY KEY (ticket_id, email)
) WITHOUT ROWID;

CREATE TABLE raw_messages (
    id   INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);

-- Every mail on a ticket, in and out. Outgoing mail is here too (direction 'out') so that a
-- reply by In-Reply-To to any mail we sent finds its ticket.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets(id),
    direction    TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    kind         TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    content_hash TEXT,
    from_email   TEXT,
    from_name    TEXT,
    to_list      TEXT    NOT NULL DEFAULT '',
    cc_list      TEXT    NOT NULL DEFAULT '',
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    date         INTEGER,
    created_at   INTEGER NOT NULL,
    raw_id       INTEGER REFERENCES raw_messages(id)
);
CREATE INDEX messages_message_id ON messages(message_id);
CREATE INDEX messages_ticket ON messages(ticket_id, id);

-- Attachment bytes are stored once per content (sha256) and never under the sender's file
-- name, so no name can reach the file system.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    data   BLOB NOT NULL
);
CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id),
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT REFERENCES blobs(sha256),
    dropped      TEXT
);
CREATE INDEX attachments_message ON attachments(message_id);

-- Who did what, when. Every change to a ticket writes one row here.
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER REFERENCES tickets(id),
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_ticket ON events(ticket_id, id);

-- Outgoing mail, committed with the change that caused it and sent afterwards. `raw` is the
-- complete RFC 5322 message: the sender task renders nothing.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER REFERENCES tickets(id),
    kind            TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    envelope_from   TEXT    NOT NULL,
    rcpt            TEXT    NOT NULL,
    raw             BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER,
    -- Set when the SMTP server refused the mail permanently (5xx): never retried.
    failed_at       INTEGER
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_rate ON outbox(rcpt, kind, created_at);

-- IMAP progress: the highest UID whose message is committed, per mailbox and UIDVALIDITY.
CREATE TABLE mailbox_state (
    mailbox      TEXT    PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
);

-- UIDs committed but not yet flagged \Seen (or moved) on the server. Flagging happens after the
-- commit, so a crash in between leaves a row here and the flag is set on the next connection.
CREATE TABLE imap_pending_flags (
    mailbox      TEXT    NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    PRIMARY KEY (mailbox, uid_validity, uid)
) WITHOUT ROWID;

-- Messages kept aside with their raw bytes: not mail, too large, unmatched bounces, loops.
CREATE TABLE quarantine (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    message_id TEXT,
    content_hash TEXT,
    raw        BLOB    NOT NULL
);
CREATE INDEX quarantine_hash ON quarantine(content_hash);
