-- Questions asked by mail (#mine, #queue, #show, #search, #help; a requester's #status): they
-- open no ticket, so they are kept here, in the transaction that queues their answer. A
-- redelivered question finds its row and is not answered twice.
CREATE TABLE queries (
    id           INTEGER PRIMARY KEY,
    message_id   TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    sender       TEXT    NOT NULL,
    -- 'technician' or 'requester'
    asker        TEXT    NOT NULL,
    -- The ticket a requester asked about in a reply; NULL for a question about no one ticket.
    ticket_id    INTEGER REFERENCES tickets(id),
    -- The query lines as read, one per line.
    asked        TEXT    NOT NULL,
    outbox_id    INTEGER REFERENCES outbox(id),
    at           INTEGER NOT NULL
);
CREATE INDEX queries_message_id ON queries(message_id);

-- A technician's open tickets (#mine, the morning queue).
CREATE INDEX tickets_owner ON tickets(owner, status);

-- A requester's own tickets (#status).
CREATE INDEX tickets_requester ON tickets(requester_email, created_at);

