//! Views: what a host, a member and an audience member may see of the same state and the
//! same event. Pending items reach only hosts and their author; drafts and host-only
//! results only hosts; members' chat and attendance never the audience.

use std::borrow::Cow;

use yishi_protocol::{Event, EventBody, ParticipantId, RoomSnapshot, View};

use super::{Part, Room};

/// How one view sees one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shown {
    Full,
    Hidden,
    /// Shown with some fields left out or changed.
    Redacted(Box<EventBody>),
}

impl Room {
    /// `event` as `view` may see it, or nothing. Serialise once per view and share.
    pub fn event_for<'e>(&self, event: &'e Event, view: View) -> Option<Cow<'e, Event>> {
        let shown = match Part::of(&event.body) {
            Part::Attendance if view == View::Audience => Shown::Hidden,
            Part::Polls => self.poll_shown(event, view),
            Part::Talk => self.talk_shown(event, view),
            _ => Shown::Full,
        };
        match shown {
            Shown::Full => Some(Cow::Borrowed(event)),
            Shown::Hidden => None,
            Shown::Redacted(body) => Some(Cow::Owned(Event {
                body: *body,
                ..event.clone()
            })),
        }
    }

    /// Someone who must get `event` in full whatever their view: the author of a pending
    /// item, a voter for their own ballot.
    pub fn private_recipient<'e>(&'e self, event: &'e Event) -> Option<&'e ParticipantId> {
        self.poll_private(event)
            .or_else(|| self.talk_private(event))
    }

    /// `event` as `viewer` (whose view is `view`) may see it.
    pub fn event_for_viewer<'e>(
        &self,
        event: &'e Event,
        view: View,
        viewer: &ParticipantId,
    ) -> Option<Cow<'e, Event>> {
        if self.private_recipient(event) == Some(viewer) {
            return Some(Cow::Borrowed(event));
        }
        self.event_for(event, view)
    }

    /// The room as `viewer` may see it now.
    pub fn snapshot(&self, view: View, viewer: &ParticipantId) -> RoomSnapshot {
        let talk = self.talk_snapshot(view, viewer);
        let settings = self.current_settings();
        RoomSnapshot {
            seq: self.seq(),
            title: self.session.title.clone(),
            session: self.session.state,
            agenda: self.session.agenda.clone(),
            current_item: self.session.current,
            ordering: self.floor.ordering(self.session.current, &settings),
            manual_order: self.floor.manual_order(self.session.current),
            settings,
            floor_mode: self.floor.mode,
            queue: self.queue().into_iter().cloned().collect(),
            floor: self.floor.current.clone(),
            suspended: self.floor.suspended.clone(),
            speaking: self.speaking_time(),
            polls: self.polls_snapshot(view, viewer),
            chat: talk.chat,
            comments: talk.comments,
            questions: talk.questions,
            attendance: if view == View::Audience {
                Vec::new()
            } else {
                self.attendance_snapshot()
            },
            moderation: talk.moderation,
            word_list: talk.word_list,
            feed: self.feed_for(view),
            livestream: self.live.clone(),
        }
    }
}
