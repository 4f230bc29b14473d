-- The fencing token of a room's owner. Taking a room (at start-up, on load, or in a
-- cluster when a node takes the room's lease) increments it and the taker writes with
-- the new value; every append checks it in its own transaction, so a writer that lost
-- the room (paused, partitioned, replaced) can never append again. It only increases.
ALTER TABLE rooms ADD COLUMN owner_epoch BIGINT NOT NULL DEFAULT 0;
