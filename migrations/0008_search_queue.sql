-- The search index is filled once per transaction instead of once per row.
--
-- FTS5 writes the terms it has collected to disk, as a new segment, at the start of every later
-- statement of the transaction that could write (its savepoint method), and merges the segments
-- as they pile up. With the insert triggers of 0004 indexing each ticket and message as it was
-- stored, every message became two or three segments of its own, and flushing and merging them
-- was about a twelfth of the pipeline's work. Now the triggers only note the new row here, and
-- `store::search::index_pending` indexes everything noted in one statement per table just before
-- the pipeline commits (and `loket search` does the same first, for rows anybody else wrote).
CREATE TABLE search_pending (
    tbl TEXT    NOT NULL CHECK (tbl IN ('tickets', 'messages')),
    id  INTEGER NOT NULL,
    PRIMARY KEY (tbl, id)
) WITHOUT ROWID;

DROP TRIGGER IF EXISTS tickets_fts_insert;
DROP TRIGGER IF EXISTS tickets_fts_delete;
DROP TRIGGER IF EXISTS tickets_fts_update;
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TRIGGER IF EXISTS messages_fts_update;

CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, id) VALUES ('tickets', new.id);
END;
-- A row still waiting is not in the index: it is taken off the list instead of out of the
-- index (an external-content index must only ever be told to delete what it holds).
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, subject)
        SELECT 'delete', old.id, old.subject
        WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE tbl = 'tickets' AND id = old.id);
    DELETE FROM search_pending WHERE tbl = 'tickets' AND id = old.id;
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE OF subject ON tickets BEGIN
    INSERT INTO tickets_fts (tickets_fts, rowid, subject)
        SELECT 'delete', old.id, old.subject
        WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE tbl = 'tickets' AND id = old.id);
    INSERT OR IGNORE INTO search_pending (tbl, id) VALUES ('tickets', new.id);
END;

-- Only inbound messages are indexed (see 0004), so each trigger repeats the direction test.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.direction = 'in' BEGIN
    INSERT OR IGNORE INTO search_pending (tbl, id) VALUES ('messages', new.id);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.direction = 'in' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        SELECT 'delete', old.id, old.subject, old.body
        WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE tbl = 'messages' AND id = old.id);
    DELETE FROM search_pending WHERE tbl = 'messages' AND id = old.id;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body, direction ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, subject, body)
        SELECT 'delete', old.id, old.subject, old.body
        WHERE old.direction = 'in'
          AND NOT EXISTS (SELECT 1 FROM search_pending WHERE tbl = 'messages' AND id = old.id);
    DELETE FROM search_pending WHERE tbl = 'messages' AND id = old.id;
    INSERT OR IGNORE INTO search_pending (tbl, id)
        SELECT 'messages', new.id WHERE new.direction = 'in';
END;
