//! The envelope: what travels over the WebSocket in each direction.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{
    Command, ErrorCode, Event, IceCandidate, IceServer, MediaState, Millis, Participant, PollId,
    PollResult, RequestId, RoomSnapshot, Sdp, Seq, View,
};

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum ClientMessage {
    /// The first message on a connection.
    Hello(Hello),
    /// A command for the room, with a request id of the client's choosing.
    Command(CommandMessage),
    /// Keep-alive and clock sample; answered by `pong`.
    Ping,
    /// Start (or restart) this connection's media session; answered by `media_answer`.
    MediaOffer(Sdp),
    /// The answer to the server's `media_offer`.
    MediaAnswer(Sdp),
    /// A local ICE candidate of the client.
    MediaCandidate(IceCandidate),
    /// End this connection's media session.
    MediaStop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Hello {
    /// Must be [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// The join token from the link.
    pub token: String,
    /// Present when reconnecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub resume: Option<Resume>,
}

/// Where a reconnecting client left off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Resume {
    /// The session id from the earlier `welcome`.
    pub session: String,
    /// The `through` of the last batch the client applied.
    pub last_seq: Seq,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CommandMessage {
    pub req: RequestId,
    pub command: Command,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum ServerMessage {
    /// The answer to `hello`.
    Welcome(Box<Welcome>),
    /// Events `from..=through` of the record as this client may see them. Events it may
    /// not see are left out, so `from` of a batch is always `through` of the previous
    /// batch plus one; anything else means something was missed.
    Events(EventBatch),
    /// The command with this request id was applied; `seq` is its last event, absent if
    /// it changed nothing.
    Ack(Ack),
    Error(ErrorMessage),
    Pong {
        server_time: Millis,
    },
    /// Running turnout (and results, where this view may see them) of an open poll, sent
    /// a few times a second at most instead of one event per ballot.
    Tally(TallyUpdate),
    /// How many are watching (audience connections), sent on joining and then at most
    /// once a second when it changes.
    Viewers {
        count: u32,
    },
    /// The SFU's answer to the client's `media_offer`.
    MediaAnswer(Sdp),
    /// Tracks to receive came or went: answer with `media_answer`.
    MediaOffer(Sdp),
    /// Who is heard, on the stage and speaking, and whose each received track is.
    MediaState(MediaState),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TallyUpdate {
    pub poll: PollId,
    pub turnout_binding: u32,
    pub turnout_advisory: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub results: Option<PollResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Welcome {
    pub protocol: u32,
    /// Give this back in `resume` when reconnecting.
    pub session: String,
    pub you: Participant,
    pub view: View,
    /// The server's clock, to compute the offset for countdowns.
    pub server_time: Millis,
    /// The room as this client may see it, as of `snapshot.seq`. Absent when resuming
    /// and the missed events follow instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub snapshot: Option<RoomSnapshot>,
    /// STUN/TURN servers for the media connection, when the server is configured with
    /// them. Absent in a resynchronisation: keep the earlier ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ice_servers: Option<Vec<IceServer>>,
}

/// An `events` message whose events are JSON already: the server serialises a batch once
/// per view and shares the bytes between connections. The same JSON as
/// [`ServerMessage::Events`].
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "events")]
pub struct EventsFrame<'a> {
    pub from: Seq,
    pub through: Seq,
    pub events: &'a serde_json::value::RawValue,
}

/// A `welcome` whose snapshot is JSON already: a resynchronised audience gets one snapshot
/// serialised once for all. The same JSON as [`ServerMessage::Welcome`] with a snapshot.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "welcome")]
pub struct WelcomeFrame<'a> {
    /// Without its snapshot, which follows as JSON.
    #[serde(flatten)]
    pub welcome: &'a Welcome,
    pub snapshot: &'a serde_json::value::RawValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EventBatch {
    pub from: Seq,
    pub through: Seq,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Ack {
    pub req: RequestId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub seq: Option<Seq>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ErrorMessage {
    /// The request this answers, if the error is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub req: Option<RequestId>,
    pub code: ErrorCode,
    /// For people; do not parse it.
    pub message: String,
}

#[cfg(test)]
mod frames {
    use super::*;
    use crate::{Event, EventBody, Millis, ParticipantId, Role, SessionState};
    use serde_json::value::RawValue;

    #[test]
    fn a_frame_of_serialised_events_is_an_events_message() {
        let events = vec![Event {
            seq: 7,
            at: Millis(1),
            actor: Some(ParticipantId::new("h")),
            body: EventBody::SessionChanged {
                state: SessionState::Paused,
            },
        }];
        let json = serde_json::to_string(&events).unwrap_or_default();
        let raw = RawValue::from_string(json).unwrap_or_else(|_| unreachable!());
        let frame = serde_json::to_string(&EventsFrame {
            from: 5,
            through: 7,
            events: &raw,
        })
        .unwrap_or_default();
        let parsed: ServerMessage = serde_json::from_str(&frame).unwrap_or(ServerMessage::Pong {
            server_time: Millis(0),
        });
        assert_eq!(
            parsed,
            ServerMessage::Events(EventBatch {
                from: 5,
                through: 7,
                events
            })
        );
    }

    #[test]
    fn a_welcome_with_a_serialised_snapshot_is_a_welcome_message() {
        let welcome = Welcome {
            protocol: 1,
            session: "s".into(),
            you: crate::Participant::new("a1", "观众", Role::Audience),
            view: crate::View::Audience,
            server_time: Millis(3),
            snapshot: None,
            ice_servers: None,
        };
        let raw = RawValue::from_string("{\"not\":\"checked\"}".into())
            .unwrap_or_else(|_| unreachable!());
        let frame = serde_json::to_string(&WelcomeFrame {
            welcome: &welcome,
            snapshot: &raw,
        })
        .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap_or_default();
        assert_eq!(value["type"], "welcome");
        assert_eq!(value["session"], "s");
        assert_eq!(value["snapshot"]["not"], "checked");
    }
}
