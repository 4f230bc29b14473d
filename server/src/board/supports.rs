//! Supports (附议/支持): one per identity and topic, on a published topic still open
//! (征集中 or 遴选). A supporter follows the topic. A topic whose supports reach the
//! threshold is on the staff's shortlist (see `view.rs`).

use super::{
    Board, Cx, ErrorCode, Event, EventBody, Rejection, Stage, Support, reject, require_person,
};

impl Board {
    pub(crate) fn support(&mut self, cx: &mut Cx, c: &Support) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        let topic = self.live_topic(c.topic)?;
        if topic.topic.stage > Stage::Selecting {
            return reject(
                ErrorCode::InvalidState,
                "supports are collected only until the topic is consulted",
            );
        }
        let me = cx.actor.identity();
        if topic.supporters.contains(&me) {
            return reject(
                ErrorCode::AlreadySupported,
                "you support this topic already",
            );
        }
        let follows = topic.followers.contains(&me);
        self.emit(
            cx,
            EventBody::Supported {
                topic: c.topic,
                by: me.clone(),
            },
        );
        if !follows {
            self.emit(
                cx,
                EventBody::Followed {
                    topic: c.topic,
                    by: me,
                },
            );
        }
        Ok(())
    }

    pub(crate) fn fold_supports(&mut self, event: &Event) {
        if let EventBody::Supported { topic, by } = &event.body
            && let Some(t) = self.topics.get_mut(topic)
        {
            t.supporters.insert(by.clone());
            t.topic.supports = t.supporters.len() as u32;
        }
    }
}
