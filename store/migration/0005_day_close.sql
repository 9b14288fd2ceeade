-- 0005: end-of-day reconciliation. One row per closed day; one row per
-- order or refund of that day the comparison with the gateway's list saw.
-- An item keeps what the first run that saw a difference found (bucket,
-- action, result): a later run adds items and turns a matched item into a
-- difference, never the other way round. Times are Unix milliseconds UTC.
CREATE TABLE day_closes (
	date         TEXT PRIMARY KEY, -- YYYY-MM-DD in the day close's time zone
	first_run_at INTEGER NOT NULL,
	last_run_at  INTEGER NOT NULL,
	runs         INTEGER NOT NULL CHECK (runs > 0)
);

CREATE TABLE day_close_items (
	date             TEXT NOT NULL REFERENCES day_closes (date),
	kind             TEXT NOT NULL CHECK (kind IN ('order', 'refund')),
	no               TEXT NOT NULL,
	orig_no          TEXT NOT NULL DEFAULT '',
	bucket           TEXT NOT NULL CHECK (bucket IN ('matched', 'only_gateway', 'only_local', 'different')),
	action           TEXT NOT NULL CHECK (action IN ('none', 'import', 'verify', 'apply', 'flag')),
	local_status     TEXT NOT NULL DEFAULT '',
	gateway_status   TEXT NOT NULL DEFAULT '',
	local_minor      INTEGER NOT NULL DEFAULT 0,
	local_currency   TEXT NOT NULL DEFAULT '',
	gateway_minor    INTEGER NOT NULL DEFAULT 0,
	gateway_currency TEXT NOT NULL DEFAULT '',
	detail           TEXT NOT NULL DEFAULT '',
	result           TEXT NOT NULL DEFAULT '',
	found_at         INTEGER NOT NULL,
	PRIMARY KEY (date, kind, no)
);

-- The day's refunds, for the day close and the report.
CREATE INDEX refunds_created_at ON refunds (created_at);
