-- The board's search by words of two characters and more from an index (see
-- server/src/board/search.rs and server/src/store/board.rs), replacing the trigram table
-- of 0008, whose LIKE scanned every row for a two-character word such as 停车.

-- Published topics that are not merged, by topic id (the rowid): `words` holds the
-- tokens of the title's and the text's words (overlapping bigrams, separated by spaces,
-- a gap token after each word). The `ascii` tokenizer keeps each of them whole (only
-- ASCII punctuation and space separate), so a word is found as a phrase of its bigrams.
CREATE VIRTUAL TABLE board_words USING fts5 (words, tokenize = 'ascii');

-- Topics whose words are still to be indexed: the tokeniser is Rust's, so the store
-- fills `board_words` from this table when it opens, and a later change of a topic
-- takes it out of the queue. Filled once here from the old table.
CREATE TABLE board_reindex (
    rowid  INTEGER NOT NULL PRIMARY KEY,
    title  TEXT    NOT NULL,
    body   TEXT    NOT NULL
);
INSERT INTO board_reindex (rowid, title, body) SELECT rowid, title, body FROM board_search;
DROP TABLE board_search;
