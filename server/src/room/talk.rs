//! Members' chat, public comments, questions (Q&A), the word list and annotations.
//! TO BE WRITTEN: see the helper's brief.

use yishi_protocol::{
    ChatMessage, Command, Comment, ErrorCode, Event, ModerationStats, ParticipantId, Question, View,
};

use super::view::Shown;
use super::{Cx, Rejection, Room, reject};

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Talk {}

/// The talk part of a snapshot, as one viewer may see it.
pub(crate) struct TalkView {
    pub chat: Vec<ChatMessage>,
    pub comments: Vec<Comment>,
    pub questions: Vec<Question>,
    pub moderation: ModerationStats,
    pub word_list: Option<Vec<String>>,
}

impl Room {
    pub(crate) fn talk_command(
        &mut self,
        _cx: &mut Cx,
        _command: &Command,
    ) -> Result<(), Rejection> {
        reject(ErrorCode::Internal, "talk is not built yet")
    }
    pub(crate) fn fold_talk(&mut self, _event: &Event) {}
    pub(crate) fn talk_shown(&self, _event: &Event, _view: View) -> Shown {
        Shown::Hidden
    }
    pub(crate) fn talk_private<'e>(&'e self, _event: &'e Event) -> Option<&'e ParticipantId> {
        None
    }
    pub(crate) fn talk_snapshot(&self, _view: View, _viewer: &ParticipantId) -> TalkView {
        TalkView {
            chat: Vec::new(),
            comments: Vec::new(),
            questions: Vec::new(),
            moderation: ModerationStats::default(),
            word_list: None,
        }
    }
}
