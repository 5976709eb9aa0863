-- A command is readable from the moment it is accepted (status ACCEPTED, no
-- handled_at yet), until the worker applies it (APPLIED), refuses it
-- (REJECTED, with code, message and, for VERSION_CONFLICT, current_version)
-- or gives up on it (FAILED: dead-lettered, with the reason as message).
alter table command_view alter column handled_at drop not null;
alter table command_view add column current_version integer;
alter table command_view add constraint command_view_status_check
  check (status in ('ACCEPTED', 'APPLIED', 'REJECTED', 'FAILED'));
