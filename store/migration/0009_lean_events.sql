-- 0009: lean event rows. An event no longer keeps a whole JSON snapshot of
-- its order (and refund): it keeps what the change changed, as the fields'
-- values before it (payment_undo, refund_undo: JSON objects, null for a
-- field that was absent). The snapshot an event is read with is rebuilt
-- from the current row by undoing the later events of the same order, newest
-- first; these indexes find them (an entry holds the seq as its rowid).
-- Rows written before 0009 keep their snapshot in payment and refund and are
-- read as before. Events before the replay window ([store] events_keep) are
-- deleted, oldest first; orders, refunds and audit rows are kept.
ALTER TABLE events ADD COLUMN payment_undo TEXT;
ALTER TABLE events ADD COLUMN refund_undo TEXT;
CREATE INDEX events_order_no ON events (order_no) WHERE order_no != '';
CREATE INDEX events_refund_no ON events (refund_no) WHERE refund_no != '';
