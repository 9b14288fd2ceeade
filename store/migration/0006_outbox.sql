-- 0006: the outbox. Every stored event also gets a row here in the same
-- transaction; a shipper publishes the rows in seq order to head office and
-- deletes them once the server has acknowledged them. A row is only the
-- event's seq and time (the snapshot stays in events), so a till that is
-- offline for a month keeps a small table. Events stored before this
-- migration are queued too, so head office sees the till's whole history;
-- the shipper drops what is older than its max_backlog.
CREATE TABLE outbox (
	seq INTEGER PRIMARY KEY REFERENCES events (seq),
	at  INTEGER NOT NULL
);
INSERT INTO outbox (seq, at) SELECT seq, at FROM events;
