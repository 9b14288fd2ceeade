-- 0004: a refund remembers the Idempotency-Key it was asked with and a hash
-- of that request, so that a POS retrying after a timeout gets the same
-- refund instead of a second one. '' means no key; keys are unique.
ALTER TABLE refunds ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX refunds_idempotency_key ON refunds (idempotency_key) WHERE idempotency_key <> '';
