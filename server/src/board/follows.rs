//! Following (关注) and notices (通知). Authors and supporters follow a topic by
//! themselves; anyone with an identity may follow or unfollow a published topic. Notices
//! are made in the fold from the events that matter to followers, so a replayed board has
//! the same feeds; each identity keeps its latest [`super::FEED_LEN`].

use super::{
    Board, Cx, ErrorCode, Event, EventBody, Follow, Identity, Notice, NoticeKind, Rejection,
    TopicId, reject, require_person,
};

impl Board {
    pub(crate) fn follow(&mut self, cx: &mut Cx, c: &Follow) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        let me = cx.actor.identity();
        if self.live_topic(c.topic)?.followers.contains(&me) {
            return reject(ErrorCode::InvalidState, "you follow this topic already");
        }
        self.emit(
            cx,
            EventBody::Followed {
                topic: c.topic,
                by: me,
            },
        );
        Ok(())
    }

    pub(crate) fn unfollow(&mut self, cx: &mut Cx, c: &Follow) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        let me = cx.actor.identity();
        if !self.topic(c.topic)?.followers.contains(&me) {
            return reject(ErrorCode::InvalidState, "you do not follow this topic");
        }
        self.emit(
            cx,
            EventBody::Unfollowed {
                topic: c.topic,
                by: me,
            },
        );
        Ok(())
    }

    pub(crate) fn fold_follows(&mut self, event: &Event) {
        match &event.body {
            EventBody::Followed { topic, by } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.followers.insert(by.clone());
                }
            }
            EventBody::Unfollowed { topic, by } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.followers.remove(by);
                }
            }
            _ => {}
        }
    }

    /// The followers of a topic.
    pub(crate) fn followers(&self, topic: TopicId) -> Vec<Identity> {
        self.topics
            .get(&topic)
            .map(|t| t.followers.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Put a notice of `event` in the feed of each of `to`.
    pub(crate) fn notify(
        &mut self,
        event: &Event,
        topic: TopicId,
        kind: NoticeKind,
        text: String,
        to: impl IntoIterator<Item = Identity>,
    ) {
        let topic_title = self
            .topics
            .get(&topic)
            .map(|t| t.topic.title.clone())
            .unwrap_or_default();
        let notice = Notice {
            seq: event.seq,
            at: event.at,
            topic: Some(topic),
            topic_title,
            studio: None,
            message: None,
            kind,
            text,
        };
        self.deliver(notice, to);
    }

    /// Put `notice` in the feed of each of `to`, keeping each feed's latest
    /// [`super::FEED_LEN`].
    pub(crate) fn deliver(&mut self, notice: Notice, to: impl IntoIterator<Item = Identity>) {
        for who in to {
            self.last_notice = notice.seq;
            let feed = self.feeds.entry(who).or_default();
            if feed.len() >= super::FEED_LEN {
                feed.pop_front();
            }
            feed.push_back(notice.clone());
        }
    }
}

/// Which notice kind, if any, an event gives to followers: for the webhooks, which send
/// one message per such event.
pub fn notice_kind(body: &EventBody) -> Option<NoticeKind> {
    match body {
        EventBody::TopicPublished { .. } => Some(NoticeKind::Published),
        EventBody::TopicMerged { .. } => Some(NoticeKind::Merged),
        EventBody::StageAdvanced { .. } => Some(NoticeKind::StageAdvanced),
        EventBody::CommentPosted { comment } if comment.official => {
            Some(NoticeKind::OfficialAnswer)
        }
        EventBody::OpinionRecorded { .. } => Some(NoticeKind::Opinion),
        EventBody::OutcomeCreated { .. } => Some(NoticeKind::OutcomeCreated),
        EventBody::ProgressReported { .. } => Some(NoticeKind::Progress),
        EventBody::OutcomeReviewed { .. } => Some(NoticeKind::Reviewed),
        EventBody::MessagePublished { .. } => Some(NoticeKind::MessagePublished),
        EventBody::MessageReplied { .. } => Some(NoticeKind::Replied),
        EventBody::ReportFiled { .. } => Some(NoticeKind::ReportFiled),
        _ => None,
    }
}

/// The webhook type of an event after `board.`: its notice kind, or `duty_scheduled`
/// for a duty slot (会客时间) scheduled (no one's feed, but the committee's platform may
/// announce it).
pub fn webhook_kind(body: &EventBody) -> Option<&'static str> {
    match body {
        EventBody::DutyScheduled { .. } => Some("duty_scheduled"),
        _ => notice_kind(body).map(NoticeKind::as_str),
    }
}
