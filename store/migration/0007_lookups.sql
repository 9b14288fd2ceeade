-- 0007: every lookup the API, the engine and the metrics make uses an index,
-- so a till with a million orders answers as fast as a new one.

-- Idempotency-Key replays (the engine's "was this key used?").
CREATE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A lane's open orders (is the lane busy?), and lists by lane and status.
CREATE INDEX orders_lane_status ON orders (lane, status, created_at);
-- Orders needing attention, on their own and per lane.
CREATE INDEX orders_attention ON orders (needs_attention, created_at);
CREATE INDEX orders_lane_attention ON orders (lane, needs_attention, created_at);

-- Counts for the metrics, kept in step with every change of an order by
-- triggers in the same transaction: a scrape reads a handful of rows
-- instead of grouping every order.
CREATE TABLE order_counts (
	status    TEXT PRIMARY KEY,
	orders    INTEGER NOT NULL DEFAULT 0,
	attention INTEGER NOT NULL DEFAULT 0,
	scheduled INTEGER NOT NULL DEFAULT 0
);
INSERT INTO order_counts (status, orders, attention, scheduled)
	SELECT status, count(*), sum(needs_attention), count(next_check_at) FROM orders GROUP BY status;

CREATE TRIGGER order_counts_insert AFTER INSERT ON orders BEGIN
	INSERT INTO order_counts (status) VALUES (NEW.status) ON CONFLICT (status) DO NOTHING;
	UPDATE order_counts SET orders = orders + 1, attention = attention + NEW.needs_attention,
		scheduled = scheduled + (NEW.next_check_at IS NOT NULL) WHERE status = NEW.status;
END;

CREATE TRIGGER order_counts_update AFTER UPDATE OF status, needs_attention, next_check_at ON orders BEGIN
	UPDATE order_counts SET orders = orders - 1, attention = attention - OLD.needs_attention,
		scheduled = scheduled - (OLD.next_check_at IS NOT NULL) WHERE status = OLD.status;
	INSERT INTO order_counts (status) VALUES (NEW.status) ON CONFLICT (status) DO NOTHING;
	UPDATE order_counts SET orders = orders + 1, attention = attention + NEW.needs_attention,
		scheduled = scheduled + (NEW.next_check_at IS NOT NULL) WHERE status = NEW.status;
END;

CREATE TRIGGER order_counts_delete AFTER DELETE ON orders BEGIN
	UPDATE order_counts SET orders = orders - 1, attention = attention - OLD.needs_attention,
		scheduled = scheduled - (OLD.next_check_at IS NOT NULL) WHERE status = OLD.status;
END;
