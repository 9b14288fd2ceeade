-- 0001: the initial schema. Times are INTEGER Unix milliseconds UTC (NULL
-- when unset); money is INTEGER minor units beside a TEXT currency.

CREATE TABLE orders (
	order_no         TEXT PRIMARY KEY,
	lane             TEXT NOT NULL,
	amount_minor     INTEGER NOT NULL CHECK (amount_minor > 0),
	currency         TEXT NOT NULL,
	reference        TEXT NOT NULL DEFAULT '',
	status           TEXT NOT NULL CHECK (status IN ('created', 'at_terminal', 'verifying', 'pending', 'paid', 'failed', 'canceled')),
	reason           TEXT NOT NULL DEFAULT '',
	terminal_outcome TEXT NOT NULL DEFAULT '',
	needs_attention  INTEGER NOT NULL DEFAULT 0 CHECK (needs_attention IN (0, 1)),
	attention        TEXT NOT NULL DEFAULT '',
	checks           INTEGER NOT NULL DEFAULT 0,
	next_check_at    INTEGER,
	verify_until     INTEGER,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	paid_at          INTEGER,
	card_brand       TEXT NOT NULL DEFAULT '',
	card_last4       TEXT NOT NULL DEFAULT '',
	refunded_minor   INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
	gateway_no       TEXT NOT NULL DEFAULT '',
	terminal_no      TEXT NOT NULL DEFAULT '',
	idempotency_key  TEXT,
	request_hash     TEXT NOT NULL DEFAULT '',
	attempts         INTEGER NOT NULL DEFAULT 0,
	override         TEXT, -- JSON {by, reason, at}; NULL when there is none
	version          INTEGER NOT NULL CHECK (version > 0)
);

-- DueChecks walks this index; only orders with a check scheduled are in it (open ones, and final ones still to close at the gateway).
CREATE INDEX orders_next_check_at ON orders (next_check_at, order_no) WHERE next_check_at IS NOT NULL;
-- ListOrders pages newest first by (created_at, order_no).
CREATE INDEX orders_created_at ON orders (created_at, order_no);
CREATE INDEX orders_status ON orders (status, created_at);
CREATE INDEX orders_lane ON orders (lane, created_at);

CREATE TABLE idempotency_keys (
	key          TEXT PRIMARY KEY,
	order_no     TEXT NOT NULL UNIQUE REFERENCES orders (order_no),
	request_hash TEXT NOT NULL,
	created_at   INTEGER NOT NULL
);

CREATE TABLE refunds (
	refund_no    TEXT PRIMARY KEY,
	order_no     TEXT NOT NULL REFERENCES orders (order_no),
	amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
	currency     TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('requested', 'pending', 'succeeded', 'failed')),
	reason       TEXT NOT NULL DEFAULT '',
	gateway_no   TEXT NOT NULL DEFAULT '',
	actor        TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	version      INTEGER NOT NULL CHECK (version > 0)
);
CREATE INDEX refunds_order_no ON refunds (order_no, created_at);
CREATE INDEX refunds_open ON refunds (created_at) WHERE status IN ('requested', 'pending');

-- Every call made for an order to the gateway or the terminal.
CREATE TABLE checks (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	order_no   TEXT NOT NULL REFERENCES orders (order_no),
	kind       TEXT NOT NULL,
	at         INTEGER NOT NULL,
	request    TEXT NOT NULL DEFAULT '',
	result     TEXT NOT NULL DEFAULT '',
	err        INTEGER NOT NULL DEFAULT 0 CHECK (err IN (0, 1)),
	latency_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX checks_order_no ON checks (order_no, id);

-- The notification inbox: what arrived (received) is kept apart from what
-- was done with it (applied_at, result). No foreign key on order_no:
-- notifications for unknown orders are stored too.
CREATE TABLE notifications (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	gateway         TEXT NOT NULL,
	notification_id TEXT NOT NULL,
	kind            TEXT NOT NULL DEFAULT '',
	order_no        TEXT NOT NULL DEFAULT '',
	status          TEXT NOT NULL DEFAULT '',
	body            BLOB NOT NULL,
	verified        INTEGER NOT NULL CHECK (verified IN (0, 1)),
	received_at     INTEGER NOT NULL,
	applied_at      INTEGER,
	result          TEXT NOT NULL DEFAULT '',
	UNIQUE (gateway, notification_id)
);
CREATE INDEX notifications_unapplied ON notifications (id) WHERE applied_at IS NULL;

-- The event log behind the websocket: AUTOINCREMENT so a seq is never
-- reused, even after the newest rows are deleted.
CREATE TABLE events (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	type      TEXT NOT NULL,
	at        INTEGER NOT NULL,
	order_no  TEXT NOT NULL DEFAULT '',
	refund_no TEXT NOT NULL DEFAULT '',
	payment   TEXT, -- the order snapshot after the change, JSON
	refund    TEXT  -- the refund snapshot after the change, JSON
);

-- Who or what changed an order or a refund, and why. subject is the order
-- or refund number the row is about; order_no is always the order.
CREATE TABLE audit (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	subject     TEXT NOT NULL,
	order_no    TEXT NOT NULL REFERENCES orders (order_no),
	at          INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	who         TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	from_status TEXT NOT NULL DEFAULT '',
	to_status   TEXT NOT NULL,
	version     INTEGER NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);
