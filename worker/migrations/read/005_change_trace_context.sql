-- The trace context of the command a change came from, copied from its
-- event, so that delivering the change to a subscriber ends the command's trace.
alter table changes add column traceparent text;
