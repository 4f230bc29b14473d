//! Polls (表决 / 投票 / 问卷). TO BE WRITTEN: see the helper's brief.

use serde::{Deserialize, Serialize};
use yishi_protocol::{
    Choice, Command, Electorate, ErrorCode, Event, Millis, ParticipantId, PollId, PollView,
    RequestId, TallyUpdate, View,
};

use super::view::Shown;
use super::{Cx, Rejection, Room, reject};

/// A secret ballot on its way to the sealed ballot box: no voter, no time, no sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBallot {
    pub poll: PollId,
    pub electorate: Electorate,
    pub choice: Choice,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Polls {}

impl Room {
    pub(crate) fn poll_command(
        &mut self,
        _cx: &mut Cx,
        _req: &RequestId,
        _command: &Command,
    ) -> Result<(), Rejection> {
        reject(ErrorCode::Internal, "polls are not built yet")
    }
    pub(crate) fn fold_poll(&mut self, _event: &Event) {}
    /// Add a ballot from the sealed ballot box to an open secret poll's tally.
    pub(crate) fn unseal(&mut self, _ballot: &SealedBallot) {}
    pub(crate) fn polls_deadline(&self) -> Option<Millis> {
        None
    }
    pub(crate) fn polls_due(&mut self, _cx: &mut Cx) {}
    /// Close every open poll (the session is closing).
    pub(crate) fn close_open_polls(&mut self, _cx: &mut Cx) {}
    pub(crate) fn poll_shown(&self, _event: &Event, _view: View) -> Shown {
        Shown::Hidden
    }
    pub(crate) fn poll_private<'e>(&'e self, _event: &'e Event) -> Option<&'e ParticipantId> {
        None
    }
    pub(crate) fn polls_snapshot(&self, _view: View, _viewer: &ParticipantId) -> Vec<PollView> {
        Vec::new()
    }
    /// Running turnout, and results where `view` may see them, of an open poll.
    pub fn tally_update(&self, _poll: PollId, _view: View) -> Option<TallyUpdate> {
        None
    }
}
