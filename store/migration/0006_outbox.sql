-- 0006: the outbox. Every stored event also gets a row here in the same
-- transaction; a shipper publishes the rows in seq order to head office and
-- deletes them once the server has acknowledged them. A row is only the
-- event's seq and time (the snapshot stays in events), so a till that is
-- offline for a month keeps a small table. Events of the last 30 days
-- stored before this migration (the default max_backlog) are queued too, so
-- head office sees the till's recent history from its first connection;
-- older ones stay only in this database.
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY REFERENCES events (seq),
	at  INTEGER NOT NULL
);
INSERT INTO outbox (seq, at) SELECT seq, at FROM events
	WHERE at >= (CAST(strftime('%s', 'now') AS INTEGER) - 30 * 86400) * 1000;
