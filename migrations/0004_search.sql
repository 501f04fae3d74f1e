-- Full-text search (FTS5) for `loket search`: ticket subjects, and the subject and body of every
-- inbound message. Mail Loket sends is left out: its templates repeat the same words on every
-- ticket and would match everything. Both tables are external-content indexes (the text stays
-- in tickets and messages only), kept current by the triggers below, whoever writes the rows.

CREATE VIRTUAL TABLE tickets_fts USING fts5(
    subject,
    content = 'tickets',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject,
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_fts (rowid, subject) VALUES (new.id, new.subject);
END;
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE OF subject ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, subject) VALUES ('delete', old.id, old.subject);
    INSERT INTO tickets_fts (rowid, subject) VALUES (new.id, new.subject);
END;

-- An external-content index must be told the old values of exactly the rows it holds, so each
-- statement repeats the direction test.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.direction = 'in' BEGIN
    INSERT INTO messages_fts (rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.direction = 'in' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        VALUES ('delete', old.id, old.subject, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body, direction ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        SELECT 'delete', old.id, old.subject, old.body WHERE old.direction = 'in';
    INSERT INTO messages_fts (rowid, subject, body)
        SELECT new.id, new.subject, new.body WHERE new.direction = 'in';
END;

-- What was stored before this migration.
INSERT INTO tickets_fts (rowid, subject) SELECT id, subject FROM tickets;
INSERT INTO messages_fts (rowid, subject, body)
    SELECT id, subject, body FROM messages WHERE direction = 'in';
