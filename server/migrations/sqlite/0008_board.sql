-- The board (码上议事): its record, hash-chained like a room's (see server/src/board/),
-- and the search index of its public topics. See server/src/store/board.rs.

-- One row per entry of the board's one record. `actor` and `body` are the canonical JSON
-- of the event's actor and body; with seq and at they rebuild the event `hash` covers.
CREATE TABLE board_events (
    seq    INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    body   TEXT    NOT NULL,
    prev   TEXT    NOT NULL,
    hash   TEXT    NOT NULL
);

-- Published topics that are not merged, by topic id (the rowid). The trigram tokenizer
-- indexes Chinese text without a word list: LIKE '%停车场%' is answered from the index,
-- and a two-character word (停车) is still found, by a scan of this small table.
CREATE VIRTUAL TABLE board_search USING fts5 (title, body, tokenize = 'trigram');
