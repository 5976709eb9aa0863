-- The W3C trace context of the command each event came from (its publish),
-- so that a projection, a rebuild or a replay can link back to the command's
-- trace. Null when the command was published without one (tracing off).
alter table events add column traceparent text;
