//! What each reader may see. The public sees published topics only (never pending or
//! rejected ones), published comments only, and never the identities of supporters;
//! staff see the moderation queue, the shortlist and the 回头看 list; each identity sees
//! its own feed.

use serde::{Deserialize, Serialize};
use yishi_protocol::Millis;

use super::listing::is_listed;
use super::{
    Board, Comment, Day, Event, Identity, Moderation, Notice, NoticeKind, Outcome, OutcomeId,
    OutcomeStatus, Stage, Stance, Topic, TopicId, TopicState,
};

/// One dated line of a topic's or an outcome's public timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub seq: u64,
    pub at: Millis,
    pub kind: NoticeKind,
    /// The stage reached, for a stage change.
    pub stage: Option<Stage>,
    pub text: String,
}

impl TimelineEntry {
    pub(crate) fn new(event: &Event, kind: NoticeKind, text: String) -> TimelineEntry {
        let stage = match &event.body {
            super::EventBody::StageAdvanced { to, .. } => Some(*to),
            _ => None,
        };
        TimelineEntry {
            seq: event.seq,
            at: event.at,
            kind,
            stage,
            text,
        }
    }
}

/// A topic in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSummary {
    pub id: TopicId,
    pub title: String,
    pub area: String,
    pub category: String,
    pub author_name: String,
    pub submitted_at: Millis,
    pub stage: Stage,
    pub supports: u32,
    pub comments: u32,
}

/// A published comment as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicComment {
    pub id: super::CommentId,
    pub author_name: String,
    pub text: String,
    pub stance: Option<Stance>,
    pub at: Millis,
    pub official: bool,
}

/// An outcome as the public sees it, with its progress rolled up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeView {
    pub id: OutcomeId,
    pub parent: Option<OutcomeId>,
    pub title: String,
    pub unit: String,
    pub status: OutcomeStatus,
    pub progress: u8,
    pub due: Option<Day>,
    pub review: Option<Day>,
    pub reviewed: Option<Day>,
    pub timeline: Vec<TimelineEntry>,
}

/// A topic's public page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPage {
    pub id: TopicId,
    pub title: String,
    pub text: String,
    pub area: String,
    pub category: String,
    pub author_name: String,
    pub submitted_at: Millis,
    pub stage: Stage,
    pub supports: u32,
    pub followers: u32,
    pub merged_into: Option<TopicId>,
    pub meeting: Option<String>,
    pub opinion: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    pub comments: Vec<PublicComment>,
    pub outcomes: Vec<OutcomeView>,
}

/// Which published topics a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Filter {
    pub stage: Option<Stage>,
    pub area: Option<String>,
    pub category: Option<String>,
    /// Only these topics (the result of a search), in this order.
    #[serde(skip)]
    pub only: Option<Vec<TopicId>>,
}

/// What waits for moderation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub topics: Vec<Topic>,
    pub comments: Vec<Comment>,
    /// Messages left in members' studios.
    pub messages: Vec<super::MessageView>,
}

pub(super) fn is_public(t: &TopicState) -> bool {
    t.topic.moderation == Moderation::Published
}

impl Board {
    /// Published topics that are not merged, newest first, filtered; and how many match.
    /// Without `only`, a page is read off the list's index (`listing.rs`).
    pub fn public_topics(
        &self,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> (Vec<TopicSummary>, usize) {
        let Some(only) = &filter.only else {
            let (ids, total) = self.listed.page(filter, offset, limit);
            let page = ids
                .iter()
                .filter_map(|id| self.topics.get(id))
                .map(|t| self.summary(t))
                .collect();
            return (page, total);
        };
        let found: Vec<&TopicState> = only
            .iter()
            .filter_map(|id| self.topics.get(id))
            .filter(|t| {
                is_listed(t)
                    && filter.stage.is_none_or(|s| t.topic.stage == s)
                    && filter.area.as_ref().is_none_or(|a| &t.topic.area == a)
                    && filter
                        .category
                        .as_ref()
                        .is_none_or(|c| &t.topic.category == c)
            })
            .collect();
        let total = found.len();
        let page = found
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|t| self.summary(t))
            .collect();
        (page, total)
    }

    fn summary(&self, t: &TopicState) -> TopicSummary {
        TopicSummary {
            id: t.topic.id,
            title: t.topic.title.clone(),
            area: t.topic.area.clone(),
            category: t.topic.category.clone(),
            author_name: t.topic.author_name.clone(),
            submitted_at: t.topic.submitted_at,
            stage: t.topic.stage,
            supports: t.topic.supports,
            comments: t
                .comments
                .iter()
                .filter(|&c| {
                    self.comments
                        .get(c)
                        .is_some_and(|c| c.moderation == Moderation::Published)
                })
                .count() as u32,
        }
    }

    /// A published topic's page; `None` for one that does not exist or is not public.
    pub fn topic_page(&self, id: TopicId) -> Option<TopicPage> {
        let t = self.topics.get(&id).filter(|t| is_public(t))?;
        let comments = t
            .comments
            .iter()
            .filter_map(|c| self.comments.get(c))
            .filter(|c| c.moderation == Moderation::Published)
            .map(|c| PublicComment {
                id: c.id,
                author_name: c.author_name.clone(),
                text: c.text.clone(),
                stance: c.stance,
                at: c.at,
                official: c.official,
            })
            .collect();
        let outcomes = t
            .outcomes
            .iter()
            .filter_map(|o| self.outcome_view(*o))
            .collect();
        Some(TopicPage {
            id,
            title: t.topic.title.clone(),
            text: t.topic.text.clone(),
            area: t.topic.area.clone(),
            category: t.topic.category.clone(),
            author_name: t.topic.author_name.clone(),
            submitted_at: t.topic.submitted_at,
            stage: t.topic.stage,
            supports: t.topic.supports,
            followers: t.followers.len() as u32,
            merged_into: t.topic.merged_into,
            meeting: t.topic.meeting.clone(),
            opinion: t.topic.opinion.clone(),
            timeline: t.timeline.clone(),
            comments,
            outcomes,
        })
    }

    pub fn outcome_view(&self, id: OutcomeId) -> Option<OutcomeView> {
        let o = self.outcomes.get(&id)?;
        let Outcome {
            parent,
            title,
            unit,
            status,
            due,
            review,
            reviewed,
            ..
        } = o.outcome.clone();
        Some(OutcomeView {
            id,
            parent,
            title,
            unit,
            status,
            progress: self.progress(id),
            due,
            review,
            reviewed,
            timeline: o.timeline.clone(),
        })
    }

    /// Topics, comments and studio messages waiting for moderation, oldest first (staff).
    pub fn queue(&self) -> Queue {
        Queue {
            topics: self
                .topics
                .values()
                .filter(|t| t.topic.moderation == Moderation::Pending)
                .map(|t| t.topic.clone())
                .collect(),
            comments: self
                .comments
                .values()
                .filter(|c| c.moderation == Moderation::Pending)
                .cloned()
                .collect(),
            messages: self.pending_messages(),
        }
    }

    /// The shortlist (staff): topics still collecting whose supports reached the
    /// threshold, most supported first.
    pub fn shortlist(&self) -> Vec<TopicSummary> {
        let mut list: Vec<&TopicState> = self
            .topics
            .values()
            .filter(|t| {
                is_listed(t)
                    && t.topic.stage == Stage::Collecting
                    && t.topic.supports >= self.threshold
            })
            .collect();
        list.sort_by(|a, b| {
            b.topic
                .supports
                .cmp(&a.topic.supports)
                .then(a.topic.id.cmp(&b.topic.id))
        });
        list.into_iter().map(|t| self.summary(t)).collect()
    }

    /// The 回头看 list (staff): outcomes whose review date is `today` or past and that
    /// were not reviewed yet, soonest first.
    pub fn review_due(&self, today: &Day) -> Vec<OutcomeView> {
        let mut due: Vec<&super::OutcomeState> = self
            .outcomes
            .values()
            .filter(|o| {
                o.outcome.reviewed.is_none()
                    && o.outcome.review.as_ref().is_some_and(|r| r <= today)
            })
            .collect();
        due.sort_by(|a, b| a.outcome.review.cmp(&b.outcome.review));
        due.into_iter()
            .filter_map(|o| self.outcome_view(o.outcome.id))
            .collect()
    }

    /// An identity's notices, newest first.
    pub fn feed(&self, who: &Identity) -> Vec<Notice> {
        self.feeds
            .get(who)
            .map(|f| f.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `who` supports `topic` (directly or through a merged duplicate).
    pub fn supports(&self, topic: TopicId, who: &Identity) -> bool {
        self.topics
            .get(&topic)
            .is_some_and(|t| t.supporters.contains(who))
    }

    /// Whether `who` follows `topic`.
    pub fn follows(&self, topic: TopicId, who: &Identity) -> bool {
        self.topics
            .get(&topic)
            .is_some_and(|t| t.followers.contains(who))
    }

    /// A topic's text for the search index while it is public (published, not merged).
    pub fn searchable(&self, id: TopicId) -> Option<(&str, &str)> {
        self.topics
            .get(&id)
            .filter(|t| is_listed(t))
            .map(|t| (t.topic.title.as_str(), t.topic.text.as_str()))
    }
}
