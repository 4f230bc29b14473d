//! The live text feed (图文直播): the recent public events a late viewer needs to read
//! the session so far (who spoke, warnings, votes and their results, approved comments
//! and questions). The room keeps the last [`FEED_LEN`] of them as it folds, so a
//! replayed room keeps the same feed; the snapshot hands them out as each view may see
//! them.

use yishi_protocol::{Event, EventBody, ItemStatus, View};

use super::Room;

/// How many feed events the room keeps (and a snapshot carries at most).
pub(crate) const FEED_LEN: usize = 50;

/// Whether an event is a line of the live text feed.
fn tells(body: &EventBody) -> bool {
    use EventBody::*;
    match body {
        SessionChanged { .. }
        | CurrentItemChanged { .. }
        | TurnStarted { .. }
        | TurnWarned { .. }
        | TurnOverran { .. }
        | TurnEnded { .. }
        | PollOpened { .. }
        | PollClosed { .. }
        | PollPublished { .. }
        | CommentApproved { .. }
        | QuestionApproved { .. }
        | QuestionAnswered { .. } => true,
        // Published at once (auto moderation).
        CommentPosted { comment } => comment.status == ItemStatus::Approved,
        QuestionAsked { question } => question.status == ItemStatus::Approved,
        _ => false,
    }
}

impl Room {
    /// Keep `event` if the feed tells it (called from the fold).
    pub(crate) fn keep_for_feed(&mut self, event: &Event) {
        if !tells(&event.body) {
            return;
        }
        if self.feed.len() >= FEED_LEN {
            self.feed.pop_front();
        }
        self.feed.push_back(event.clone());
    }

    /// The feed as `view` may see it: each event through the view's rules.
    pub(crate) fn feed_for(&self, view: View) -> Vec<Event> {
        self.feed
            .iter()
            .filter_map(|e| self.event_for(e, view).map(|e| e.into_owned()))
            .collect()
    }
}
