-- The round-robin turn (store::tickets::last_round_robin) reads the newest 'assigned' event for
-- every new ticket. Without an index that was a scan of the whole events table from the newest
-- row back to the last assignment: the full table when no assignment exists (no technicians, or
-- every ticket assigned by rule), which made ingest about twenty times slower at 100,000 tickets
-- (BENCHMARKS.md). A partial index holds only those rows, so other events cost nothing extra.
CREATE INDEX events_assigned ON events(id) WHERE kind = 'assigned';
