-- 0012: the pending orders without a check scheduled, for the start-up
-- (OrdersToResume): the only pending orders a start must act on. Without it
-- every start read every pending order, flagged ones included (thousands on
-- a till that has flagged orders for years) before it was ready. The
-- condition is unscheduledPendingTerm in store/list.go, word for word.
CREATE INDEX orders_unscheduled_pending ON orders (created_at, order_no)
  WHERE status = 'pending' AND next_check_at IS NULL;
