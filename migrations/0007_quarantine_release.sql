-- `loket quarantine release`: a quarantined message offered to the pipeline again (after a limit
-- was raised, say). The row and its bytes stay, for the record; these say when it left
-- quarantine and what it became ("HD-42", "duplicate", ...). NULL: still held.
ALTER TABLE quarantine ADD COLUMN released_at INTEGER;
ALTER TABLE quarantine ADD COLUMN released_as TEXT;
