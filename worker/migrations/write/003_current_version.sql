-- A version conflict is refused with the version the entity is at, so the
-- client can reread and retry.
alter table commands add column current_version integer;
