//! Media signalling: how a client sets up its WebRTC connection to the server's SFU over
//! the room's WebSocket.
//!
//! The client makes the first offer (`media_offer`), with the tracks it sends if any; the
//! server answers (`media_answer`). After that only the server offers (when tracks to
//! receive come or go) and the client answers, so both sides never offer at once. A new
//! `media_offer` from the client starts its media session afresh (switching to audio only,
//! say). Who is heard is decided by the floor, on the server: `media_state` tells the
//! client who is live, who is on the stage, and whose each received track is.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ParticipantId;

/// A session description (SDP) of an offer or an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Sdp {
    pub sdp: String,
}

/// An ICE candidate of the client (trickle ICE), as in `RTCIceCandidate.candidate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct IceCandidate {
    pub candidate: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MediaKind {
    Audio,
    Video,
}

/// One track the client receives, by the `mid` of its transceiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MediaTrack {
    pub mid: String,
    pub kind: MediaKind,
    /// Whose media the track carries; absent for the stage, whose source follows
    /// [`MediaState::stage`] (the audience receives the stage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub participant: Option<ParticipantId>,
    /// What the track shows when it is not a camera or a microphone: `slides` for a
    /// shared screen (a lecturer's slides, RFC 4796 `a=content:slides`). Absent for a
    /// camera or a microphone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub content: Option<TrackContent>,
}

/// What a video track shows besides a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TrackContent {
    /// A shared screen or slides: a publisher's second video track, marked in its offer
    /// with `a=content:slides` on that media section.
    Slides,
}

/// Who is live, sent when it changes (at most a few times a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MediaState {
    /// Whose audio the server forwards now: the hosts, the floor holder, or every member
    /// in open discussion.
    pub heard: Vec<ParticipantId>,
    /// Who is on the stage: the floor holder, else the first host sending video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stage: Option<ParticipantId>,
    /// Whose shared screen is on the stage's second video track: the first heard
    /// participant sharing one (a lecturer's slides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub screen: Option<ParticipantId>,
    /// Who is speaking now, by the audio levels their packets carry (RFC 6464), loudest
    /// first. Only those heard are listed.
    pub speaking: Vec<ParticipantId>,
    /// The tracks this client receives.
    pub tracks: Vec<MediaTrack>,
}

/// A STUN or TURN server for the client's `RTCPeerConnection`, as in `RTCIceServer`.
/// TURN credentials are time-limited (the coturn REST scheme: the username carries the
/// expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub credential: Option<String>,
}
