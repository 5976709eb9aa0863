-- Which command each idempotency key names. The command service derives a
-- command's id from its key and the request, so one key with two different
-- requests arrives as two command ids; the second is refused. Recorded in the
-- same transaction as the command's outcome, whatever that outcome is.
create table idempotency_keys (
  key text primary key,
  command_id uuid not null,
  command_type text not null,
  recorded_at timestamptz not null
);
