//! Merging duplicates (合并): staff merge a published topic into another. The duplicate
//! points to its target from then on and takes no more supports or comments; its
//! supporters and followers are carried over to the target, each counted once.

use super::{
    Board, Cx, ErrorCode, Event, EventBody, MergeTopic, NoticeKind, Rejection, reject,
    require_staff,
};

impl Board {
    pub(crate) fn merge_topic(&mut self, cx: &mut Cx, c: &MergeTopic) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        if c.duplicate == c.into {
            return reject(
                ErrorCode::InvalidArgument,
                "a topic cannot be merged into itself",
            );
        }
        self.live_topic(c.duplicate)?;
        self.live_topic(c.into)?;
        self.emit(
            cx,
            EventBody::TopicMerged {
                duplicate: c.duplicate,
                into: c.into,
            },
        );
        Ok(())
    }

    pub(crate) fn fold_merge(&mut self, event: &Event) {
        let EventBody::TopicMerged { duplicate, into } = &event.body else {
            return;
        };
        let Some(dup) = self.topics.get_mut(duplicate) else {
            return;
        };
        dup.topic.merged_into = Some(*into);
        let supporters = dup.supporters.clone();
        let followers = dup.followers.clone();
        let title = dup.topic.title.clone();
        if let Some(target) = self.topics.get_mut(into) {
            target.supporters.extend(supporters);
            target.topic.supports = target.supporters.len() as u32;
            target.followers.extend(followers.iter().cloned());
            let note = format!("{title} (#{})", duplicate.0);
            target
                .timeline
                .push(super::TimelineEntry::new(event, NoticeKind::Merged, note));
        }
        self.notify(
            event,
            *duplicate,
            NoticeKind::Merged,
            format!("#{}", into.0),
            followers,
        );
    }
}
