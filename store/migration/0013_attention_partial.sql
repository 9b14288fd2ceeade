-- 0013: the needs-attention indexes hold the flagged orders only. A flagged
-- order is the rare one (about 1 in 100), and the lists that ask for them
-- (needs_attention=true, on its own or per lane) are the ones a till must
-- answer fast however many orders it has; indexing every order's 0 cost 37
-- bytes per order. A list of the unflagged orders walks the date or lane
-- index and passes over the few flagged ones. The condition is
-- attentionTerm in store/list.go, word for word.
DROP INDEX orders_attention;
DROP INDEX orders_lane_attention;
CREATE INDEX orders_attention ON orders (created_at, order_no) WHERE needs_attention = 1;
CREATE INDEX orders_lane_attention ON orders (lane, created_at, order_no) WHERE needs_attention = 1;
