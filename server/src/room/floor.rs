//! The speaking queue (发言队列), the floor and its clocks. TO BE WRITTEN.

use yishi_protocol::{
    Command, EndReason, ErrorCode, Event, FloorMode, ItemId, Millis, OrderingPolicy, ParticipantId,
    QueueEntry, Settings, SpeakingTime, Turn,
};

use super::{Cx, Rejection, Room, reject};

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Floor {
    pub mode: FloorMode,
    pub current: Option<Turn>,
    pub suspended: Vec<Turn>,
}

impl Floor {
    pub fn ordering(&self, _item: ItemId, settings: &Settings) -> OrderingPolicy {
        settings.ordering
    }
    pub fn manual_order(&self, _item: ItemId) -> bool {
        false
    }
}

impl Room {
    pub(crate) fn floor_command(
        &mut self,
        _cx: &mut Cx,
        _command: &Command,
    ) -> Result<(), Rejection> {
        reject(ErrorCode::Internal, "floor not built yet")
    }
    pub(crate) fn fold_floor(&mut self, _event: &Event) {}
    pub(crate) fn floor_deadline(&self) -> Option<Millis> {
        None
    }
    pub(crate) fn floor_due(&mut self, _cx: &mut Cx) {}
    pub(crate) fn pause_turn_for_session(&mut self, _cx: &mut Cx) {}
    pub(crate) fn resume_turn_for_session(&mut self, _cx: &mut Cx) {}
    pub(crate) fn end_all_turns(&mut self, _cx: &mut Cx, _reason: EndReason) {}
    pub(crate) fn speaker_returned(&mut self, _cx: &mut Cx, _id: &ParticipantId) {}
    pub(crate) fn speaker_dropped(&mut self, _cx: &mut Cx, _id: &ParticipantId) {}
    /// The current item's speaking list in the order the floor will go.
    pub fn queue(&self) -> Vec<&QueueEntry> {
        Vec::new()
    }
    pub fn speaking_time(&self) -> SpeakingTime {
        SpeakingTime::default()
    }
}
