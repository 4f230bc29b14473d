-- The request id a command carried, on the row of the last event it caused (the
-- sequence number its acknowledgement named), so a command retried with the same
-- request id after a restart is acknowledged again instead of applied twice. Not part
-- of the hash chain: a fact about delivery, not about the meeting.
ALTER TABLE events ADD COLUMN req TEXT;
