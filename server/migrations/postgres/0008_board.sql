-- The board (码上议事): its record, hash-chained like a room's (see server/src/board/),
-- and the search index of its public topics. See server/src/store/board.rs.

-- One row per entry of the board's one record. `actor` and `body` are the canonical JSON
-- of the event's actor and body (text, not jsonb, so their bytes come back unchanged).
CREATE TABLE board_events (
    seq    BIGINT NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at     BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    body   TEXT   NOT NULL,
    prev   TEXT   NOT NULL,
    hash   TEXT   NOT NULL
);

-- Published topics that are not merged, by topic id. The column is called `rowid` as on
-- SQLite (where it is FTS5's), so both stores share their SQL.
CREATE TABLE board_search (
    rowid  BIGINT NOT NULL PRIMARY KEY,
    title  TEXT   NOT NULL,
    body   TEXT   NOT NULL
);

-- Searches are `ILIKE '%…%'`, right for Chinese text without a word list. pg_trgm's
-- GIN index answers them from the index for three characters or more; a two-character
-- word (停车) is found by a scan. Where pg_trgm cannot be installed the search still
-- works, without the index. The extension goes to `public` so that a schema dropped
-- later (tests use one schema each) does not take it along.
DO $$
DECLARE
    trgm_schema TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm is not available (%): board search runs without its index', SQLERRM;
    END;
    SELECT n.nspname INTO trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX board_search_trgm ON board_search USING gin ((title || '' '' || body) %I.gin_trgm_ops)',
            trgm_schema);
    END IF;
END
$$;
