-- 0010: orders paid on the customer's phone (a QR lane): the hosted page's
-- URL the QR code carries, and when the gateway closes the order unpaid.
-- Both stay empty for orders taken on a terminal.
ALTER TABLE orders ADD COLUMN payment_url TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN payment_expires_at INTEGER;
