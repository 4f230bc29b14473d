-- Photos of the members' studios (网上工作室), uploaded from the console: each kept once
-- under the SHA-256 of its bytes, served as `/api/v1/board/photos/<id>`.
CREATE TABLE board_photos (
    id TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);
