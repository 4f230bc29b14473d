//! Error codes: stable, machine-readable, one per thing a client can act on.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    // ----- connection and framing -----
    /// The `hello` announced another protocol version.
    ProtocolVersion,
    /// The frame is not valid JSON or not a known message.
    Malformed,
    /// The frame is larger than the server accepts.
    TooLarge,
    /// The first message must be a `hello`, and only the first.
    HelloExpected,
    /// The join token is missing, forged or for another room.
    Unauthorized,
    /// The join token has expired: get a new link.
    TokenExpired,
    /// The join token is valid only from a later time (`nbf`, or `iat` in the future):
    /// check the device's clock, or wait.
    TokenNotYetValid,
    /// The join token was revoked: its invitation link was replaced by a new one, which
    /// the organiser has.
    TokenRevoked,
    /// The join token is valid but its room does not exist (deleted, or a link for
    /// another server).
    RoomNotFound,
    /// The same participant joined from another device; this connection was closed.
    Displaced,
    /// The page was served from an origin the server does not accept.
    OriginForbidden,
    /// Too many messages: slow down and retry later.
    RateLimited,
    /// The session to resume is unknown or too old: join afresh.
    ResumeUnavailable,
    /// The server is busy or shutting down: reconnect and resume.
    Unavailable,
    /// Something failed on the server; nothing was applied.
    Internal,

    // ----- rules -----
    /// The sender's grants do not allow this command.
    Forbidden,
    /// The session's or the item's state does not allow this now.
    InvalidState,
    /// The session is closed; its record is read-only.
    RoomClosed,
    /// No such entry, turn, poll, comment, question, item or participant.
    NotFound,
    /// A field is out of range or inconsistent.
    InvalidArgument,
    /// An override (reorder, remove, add, out-of-order grant) needs a reason.
    ReasonRequired,
    /// The participant already waits for the floor with this kind.
    AlreadyWaiting,
    /// Nobody holds the floor.
    NoFloor,
    /// The queue is empty.
    QueueEmpty,
    /// Not eligible to vote in this poll.
    NotEligible,
    /// A ballot was already cast and the poll does not allow changes.
    AlreadyVoted,
    /// The ballot does not fit the poll's method.
    InvalidBallot,
    /// Already upvoted.
    AlreadyUpvoted,
    /// Empty text.
    TextEmpty,
    /// Longer than 500 characters.
    TextTooLong,
    /// Control characters are not allowed.
    TextInvalid,

    // ----- media -----
    /// This server runs no SFU, or it is full: take part without audio and video.
    MediaUnavailable,
    /// The session description could not be applied: send a fresh `media_offer`.
    MediaRejected,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ProtocolVersion => "protocol_version",
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::HelloExpected => "hello_expected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenNotYetValid => "token_not_yet_valid",
            ErrorCode::TokenRevoked => "token_revoked",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::Displaced => "displaced",
            ErrorCode::OriginForbidden => "origin_forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ResumeUnavailable => "resume_unavailable",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::RoomClosed => "room_closed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::ReasonRequired => "reason_required",
            ErrorCode::AlreadyWaiting => "already_waiting",
            ErrorCode::NoFloor => "no_floor",
            ErrorCode::QueueEmpty => "queue_empty",
            ErrorCode::NotEligible => "not_eligible",
            ErrorCode::AlreadyVoted => "already_voted",
            ErrorCode::InvalidBallot => "invalid_ballot",
            ErrorCode::AlreadyUpvoted => "already_upvoted",
            ErrorCode::TextEmpty => "text_empty",
            ErrorCode::TextTooLong => "text_too_long",
            ErrorCode::TextInvalid => "text_invalid",
            ErrorCode::MediaUnavailable => "media_unavailable",
            ErrorCode::MediaRejected => "media_rejected",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
