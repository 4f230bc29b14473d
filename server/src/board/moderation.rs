//! Moderation (审核) of topics, apart from their workflow: `pending → published |
//! rejected(reason)`, by staff, once. Only a published topic is public; the author is
//! told either way.

use super::text::{MAX_SHORT, clean};
use super::{
    Board, Cx, Decision, ErrorCode, Event, EventBody, ModerateTopic, Moderation, NoticeKind,
    Rejection, TimelineEntry, reject, require_staff,
};

impl Board {
    pub(crate) fn moderate_topic(
        &mut self,
        cx: &mut Cx,
        c: &ModerateTopic,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let topic = self.topic(c.topic)?;
        if topic.topic.moderation != Moderation::Pending {
            return reject(
                ErrorCode::InvalidState,
                format!("topic {} was moderated already", c.topic.0),
            );
        }
        let body = match &c.decision {
            Decision::Publish => EventBody::TopicPublished { topic: c.topic },
            Decision::Reject { reason } => EventBody::TopicRejected {
                topic: c.topic,
                reason: clean("reason", reason, MAX_SHORT, false)?,
            },
        };
        self.emit(cx, body);
        Ok(())
    }

    pub(crate) fn fold_moderation(&mut self, event: &Event) {
        let (id, moderation, kind, text) = match &event.body {
            EventBody::TopicPublished { topic } => (
                *topic,
                Moderation::Published,
                NoticeKind::Published,
                String::new(),
            ),
            EventBody::TopicRejected { topic, reason } => (
                *topic,
                Moderation::Rejected {
                    reason: reason.clone(),
                },
                NoticeKind::Rejected,
                reason.clone(),
            ),
            _ => return,
        };
        let Some(t) = self.topics.get_mut(&id) else {
            return;
        };
        t.topic.moderation = moderation;
        if kind == NoticeKind::Published {
            t.timeline
                .push(TimelineEntry::new(event, kind, String::new()));
        }
        let author = t.topic.author.clone();
        self.notify(event, id, kind, text, [author]);
    }
}
