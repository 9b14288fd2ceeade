-- 0003: the inbox keeps the verified notification as decoded and redacted
-- (status, amounts, gateway number, card brand and last four) instead of the
-- raw body, which may carry a card number. Raw bodies stored by earlier
-- versions are scrubbed; an unapplied entry without a decoded copy is
-- applied by asking the gateway about its order.
UPDATE notifications SET body = X'';
