-- Service quality (issue 18): satisfaction ratings by reply, merged and linked tickets, and the
-- working time technicians report with #time.

-- A ticket folded into another by #merge: its status is 'merged' and mail to it goes here.
ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets(id);

-- One rating per ticket: a later one replaces it (the events table keeps each as 'rated').
CREATE TABLE ratings (
    ticket_id  INTEGER PRIMARY KEY REFERENCES tickets(id),
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT,
    rater      TEXT    NOT NULL,
    rated_at   INTEGER NOT NULL,
    -- The mail that carried it (stored on the ticket as kind 'rating').
    message_id INTEGER REFERENCES messages(id)
);
CREATE INDEX ratings_rated_at ON ratings(rated_at);

-- #link: a relation both tickets show, stored once with the lower number first.
CREATE TABLE links (
    low        INTEGER NOT NULL REFERENCES tickets(id),
    high       INTEGER NOT NULL REFERENCES tickets(id),
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (low, high),
    CHECK (low < high)
) WITHOUT ROWID;
CREATE INDEX links_high ON links(high);

-- #time: working time a technician spent on a ticket, one row per command.
CREATE TABLE time_spent (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    technician TEXT    NOT NULL,
    seconds    INTEGER NOT NULL CHECK (seconds > 0),
    at         INTEGER NOT NULL
);
CREATE INDEX time_spent_ticket ON time_spent(ticket_id);
CREATE INDEX time_spent_at ON time_spent(at);
