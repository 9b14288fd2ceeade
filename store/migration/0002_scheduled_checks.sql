-- 0002: the reconciler's place in its schedule gets its own column, so that
-- orders.checks can count every gateway query made for the order.
ALTER TABLE orders ADD COLUMN scheduled_checks INTEGER NOT NULL DEFAULT 0 CHECK (scheduled_checks >= 0);
UPDATE orders SET scheduled_checks = checks;
