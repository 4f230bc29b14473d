-- The board's search by words of two characters and more from an index (see
-- server/src/board/search.rs and server/src/store/board.rs), replacing the ILIKE search
-- of 0008, whose pg_trgm index cannot answer a two-character word such as 停车.

-- Published topics that are not merged, by topic id (`rowid`, as on SQLite): `words`
-- holds the tokens of the title's and the text's words (overlapping bigrams, separated
-- by spaces, a gap token after each word), `vector` the same tokens (without the gaps),
-- built by the store. The GIN index finds the topics holding a word's first bigram; the
-- word's whole phrase is then checked on `words`.
CREATE TABLE board_words (
    rowid   BIGINT   NOT NULL PRIMARY KEY,
    words   TEXT     NOT NULL,
    vector  TSVECTOR NOT NULL
);
CREATE INDEX board_words_vector ON board_words USING gin (vector);

-- Topics whose words are still to be indexed: the tokeniser is Rust's, so the store
-- fills `board_words` from this table when it opens, and a later change of a topic
-- takes it out of the queue. Filled once here from the old table.
CREATE TABLE board_reindex (
    rowid  BIGINT NOT NULL PRIMARY KEY,
    title  TEXT   NOT NULL,
    body   TEXT   NOT NULL
);
INSERT INTO board_reindex (rowid, title, body) SELECT rowid, title, body FROM board_search;
DROP TABLE board_search;
