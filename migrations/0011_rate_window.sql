-- The rate limits' memory: who was sent what lately (issue 19, scale).
--
-- The acknowledgement rate limit, the repeated-request test and the quick-reply test each ask
-- "what went to this address since a moment ago", and used to find it in an index over the
-- whole outbox by recipient (`outbox_rate`). Every new mail went into that index at its
-- recipient's place, so on a large store each one dirtied a leaf page of its own that the
-- commit wrote: at 1,000,000 tickets the biggest per-message cost that grows with the store.
-- The same questions are asked here, of the mails of the rate windows only:
-- `store::outbox::forget_recent` drops the rows older than the longest window, so this table
-- and its index stay as small as the windows' traffic, whatever the outbox holds.
CREATE TABLE outbox_recent (
    outbox_id  INTEGER PRIMARY KEY,  -- outbox.id
    ticket_id  INTEGER,
    kind       TEXT    NOT NULL,
    rcpt       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_recent_rate ON outbox_recent(rcpt, kind, created_at);
CREATE INDEX outbox_recent_age ON outbox_recent(created_at);

-- Whoever writes the outbox (the pipeline, the scheduler, a command) counts.
CREATE TRIGGER outbox_recent_insert AFTER INSERT ON outbox BEGIN
    INSERT INTO outbox_recent (outbox_id, ticket_id, kind, rcpt, created_at)
        VALUES (new.id, new.ticket_id, new.kind, new.rcpt, new.created_at);
END;

-- What was sent in the last seven days before this migration (measured from the newest mail):
-- the configured windows are not known here (an hour and a minute by default), and the first
-- batch of mail after the upgrade forgets what is older than they are. Not all of the outbox,
-- so that this first batch does not delete the whole history's rows while holding the write
-- lock; a window longer than seven days counts from the upgrade on. The old index finds the
-- rows: `created_at` comes after the mail itself in an outbox row, so reading it from the
-- table would read every mail ever sent.
INSERT INTO outbox_recent (outbox_id, ticket_id, kind, rcpt, created_at)
    SELECT o.id, o.ticket_id, o.kind, o.rcpt, r.created_at
    FROM (SELECT id, created_at FROM outbox INDEXED BY outbox_rate
          WHERE created_at >= (SELECT created_at FROM outbox ORDER BY id DESC LIMIT 1)
                              - 7 * 86400000) AS r
    JOIN outbox AS o ON o.id = r.id;

DROP INDEX outbox_rate;
