-- A meeting's livestream setting: 1 starts its livestream (直播) when its session opens
-- (a 委员讲堂 lecture's usual wish); 0 leaves it to a host.
ALTER TABLE meetings ADD COLUMN livestream BIGINT NOT NULL DEFAULT 0;
