-- 0011: the orders that hold their lane (posbridge.Order.HoldsLane), for the
-- check every payment makes that its lane is free. Without it the check read
-- every pending order of the lane, flagged ones included: thousands on a
-- till that has flagged orders for years. The condition is holdsLaneTerm in
-- store/list.go, word for word.
CREATE INDEX orders_lane_holding ON orders (lane, created_at)
  WHERE (status IN ('created', 'at_terminal', 'verifying') OR (status = 'pending' AND reason NOT IN ('unconfirmed', 'partially_paid')));
