//! Comments on a topic, with an optional stance (支持 / 反对 / 建议). A resident's or
//! member's comment is pre-moderated (`pending → published | rejected(reason)`) and
//! until then seen by staff only; staff's comment is an official answer, published at
//! once and told to the topic's followers.

use super::text::{MAX_LONG, MAX_SHORT, clean};
use super::{
    Board, Comment, CommentId, Cx, Decision, ErrorCode, Event, EventBody, ModerateComment,
    Moderation, NoticeKind, PostComment, Rejection, TimelineEntry, reject, require_person,
    require_staff,
};

impl Board {
    pub(crate) fn post_comment(&mut self, cx: &mut Cx, c: &PostComment) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        self.live_topic(c.topic)?;
        let text = clean("comment", &c.text, MAX_LONG, true)?;
        let official = cx.actor.is_staff();
        let comment = Comment {
            id: CommentId(self.comments.keys().next_back().map_or(1, |c| c.0 + 1)),
            topic: c.topic,
            author: cx.actor.identity(),
            author_name: cx.actor.name().to_owned(),
            text,
            stance: c.stance,
            at: cx.now,
            moderation: if official {
                Moderation::Published
            } else {
                Moderation::Pending
            },
            official,
        };
        self.emit(cx, EventBody::CommentPosted { comment });
        Ok(())
    }

    pub(crate) fn moderate_comment(
        &mut self,
        cx: &mut Cx,
        c: &ModerateComment,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let Some(comment) = self.comments.get(&c.comment) else {
            return reject(ErrorCode::NotFound, format!("no comment {}", c.comment.0));
        };
        if comment.moderation != Moderation::Pending {
            return reject(
                ErrorCode::InvalidState,
                format!("comment {} was moderated already", c.comment.0),
            );
        }
        let body = match &c.decision {
            Decision::Publish => EventBody::CommentPublished { comment: c.comment },
            Decision::Reject { reason } => EventBody::CommentRejected {
                comment: c.comment,
                reason: clean("reason", reason, MAX_SHORT, false)?,
            },
        };
        self.emit(cx, body);
        Ok(())
    }

    pub(crate) fn fold_comments(&mut self, event: &Event) {
        match &event.body {
            EventBody::CommentPosted { comment } => {
                if let Some(t) = self.topics.get_mut(&comment.topic) {
                    t.comments.push(comment.id);
                    if comment.official {
                        t.timeline.push(TimelineEntry::new(
                            event,
                            NoticeKind::OfficialAnswer,
                            comment.text.clone(),
                        ));
                    }
                }
                self.comments.insert(comment.id, comment.clone());
                if comment.official {
                    let followers = self.followers(comment.topic);
                    self.notify(
                        event,
                        comment.topic,
                        NoticeKind::OfficialAnswer,
                        comment.text.clone(),
                        followers,
                    );
                }
            }
            EventBody::CommentPublished { comment } => {
                if let Some(c) = self.comments.get_mut(comment) {
                    c.moderation = Moderation::Published;
                }
            }
            EventBody::CommentRejected { comment, reason } => {
                if let Some(c) = self.comments.get_mut(comment) {
                    c.moderation = Moderation::Rejected {
                        reason: reason.clone(),
                    };
                }
            }
            _ => {}
        }
    }
}
