//! What a change to the board changes for its readers, for the live updates of its pages
//! (`GET /api/v1/board/live`): the published topics whose page or place in the list some
//! events changed, the studios whose page they changed, and whether they put a notice in
//! anyone's feed. Read on the board after the events were folded; nothing unpublished
//! is named.

use super::{Board, Event, EventBody, MemberId, Moderation, TopicId};

/// What some events changed, as readers see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Published topics whose page (supports, followers, stage, comments, outcomes…)
    /// changed, ascending.
    pub topics: Vec<TopicId>,
    /// Studios whose public page changed, ascending.
    pub studios: Vec<MemberId>,
    /// Some identity's feed got a notice.
    pub notices: bool,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.studios.is_empty() && !self.notices
    }
}

impl Board {
    /// What `events`, the last ones folded into this board, changed for readers.
    pub fn changed(&self, events: &[Event]) -> Changed {
        let mut topics = Vec::new();
        let mut studios = Vec::new();
        for event in events {
            use EventBody::*;
            match &event.body {
                TopicSubmitted { topic } => topics.push(topic.id),
                TopicPublished { topic }
                | Supported { topic, .. }
                | StageAdvanced { topic, .. }
                | SelectedIntoMeeting { topic, .. }
                | OpinionRecorded { topic, .. }
                | Followed { topic, .. }
                | Unfollowed { topic, .. } => topics.push(*topic),
                TopicMerged { duplicate, into } => topics.extend([*duplicate, *into]),
                CommentPosted { comment } => {
                    if self.published_comment(comment.id) {
                        topics.push(comment.topic);
                    }
                }
                CommentPublished { comment } => {
                    if let Some(c) = self.comments.get(comment) {
                        topics.push(c.topic);
                    }
                }
                OutcomeCreated { outcome } => topics.push(outcome.topic),
                ProgressReported { outcome, .. } | OutcomeReviewed { outcome, .. } => {
                    if let Some(o) = self.outcomes.get(outcome) {
                        topics.push(o.outcome.topic);
                    }
                }
                StudioOpened { studio } => studios.push(studio.member),
                DutyScheduled { slot } => studios.push(slot.member),
                DutyCancelled { slot } => {
                    if let Some(d) = self.duty.get(slot) {
                        studios.push(d.slot.member);
                    }
                }
                ReportFiled { report } => {
                    if let Some(m) = self.messages.get(&report.message) {
                        studios.push(m.message.member);
                    }
                }
                MessagePublished { message, .. } | MessageReplied { message, .. } => {
                    if let Some(m) = self.messages.get(message) {
                        studios.push(m.message.member);
                    }
                }
                TopicRejected { .. }
                | CommentRejected { .. }
                | ThresholdSet { .. }
                | MessagePosted { .. }
                | MessageRejected { .. } => {}
            }
        }
        topics.retain(|t| {
            self.topics
                .get(t)
                .is_some_and(|t| t.topic.moderation == Moderation::Published)
        });
        topics.sort();
        topics.dedup();
        studios.sort();
        studios.dedup();
        let first = events.first().map_or(u64::MAX, |e| e.seq);
        Changed {
            topics,
            studios,
            notices: self.last_notice >= first,
        }
    }

    /// The sequence number of the latest notice in `who`'s feed (0: none).
    pub fn latest_notice(&self, who: &super::Identity) -> u64 {
        self.feeds
            .get(who)
            .and_then(|f| f.back())
            .map_or(0, |n| n.seq)
    }

    fn published_comment(&self, id: super::CommentId) -> bool {
        self.comments
            .get(&id)
            .is_some_and(|c| c.moderation == Moderation::Published)
    }
}
