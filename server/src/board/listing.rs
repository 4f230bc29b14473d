//! The index of the public topic list (议题列表): every topic the public may list
//! (published, not merged) filed under each filter that shows it, so that a page costs
//! its offset and limit in steps and its total one look-up, whatever the board's size.
//!
//! A topic is filed under eight keys: its stage, area and category, each either named or
//! left open, which are exactly the filters a list can ask for. Each key holds an
//! ordered set of topic ids, read backwards for newest first (a topic's id is its rank
//! in submission). Sets per full (stage, area, category) merged at read time would hold
//! each id once instead of eight times, but areas and categories are free text: their
//! number has no bound, and a merge over many keys would be a scan again. The price here
//! is a few insertions each time a topic's place on the list changes (publication, a
//! stage, a merge), a handful of times in its life.
//!
//! The index is derived from the topics, and [`Board::fold`] keeps it up to date, so a
//! replay rebuilds it like the rest. It is persistent (`imbl`) like the rest of the
//! board, so a copy costs nothing until it changes.
//!
//! This module must never do I/O.

use imbl::{OrdMap, OrdSet};

use super::{Board, EventBody, Filter, Stage, TopicId, TopicState};

/// Where a listed topic is filed: what the list's filters look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    stage: Stage,
    area: String,
    category: String,
}

/// A filter as the index keys it: `None` shows any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ListKey {
    stage: Option<Stage>,
    area: Option<String>,
    category: Option<String>,
}

impl Listing {
    /// The eight filters that show a topic filed here.
    fn keys(&self) -> Vec<ListKey> {
        let mut keys = Vec::with_capacity(8);
        for stage in [None, Some(self.stage)] {
            for area in [None, Some(&self.area)] {
                for category in [None, Some(&self.category)] {
                    keys.push(ListKey {
                        stage,
                        area: area.cloned(),
                        category: category.cloned(),
                    });
                }
            }
        }
        keys
    }
}

/// Whether the public list shows a topic (whatever the filter): published, not merged.
pub(crate) fn is_listed(t: &TopicState) -> bool {
    super::view::is_public(t) && t.topic.merged_into.is_none()
}

/// The listed topics under every filter a list can ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ListIndex {
    /// Never holds an empty set.
    sets: OrdMap<ListKey, OrdSet<TopicId>>,
}

impl ListIndex {
    /// Move `id` from where `before` filed it to where `after` files it (`None`: not
    /// listed).
    fn refile(&mut self, id: TopicId, before: Option<&Listing>, after: Option<&Listing>) {
        if before == after {
            return;
        }
        let old = before.map(Listing::keys).unwrap_or_default();
        let new = after.map(Listing::keys).unwrap_or_default();
        for key in old.iter().filter(|k| !new.contains(k)) {
            if let Some(set) = self.sets.get_mut(key) {
                set.remove(&id);
                if set.is_empty() {
                    self.sets.remove(key);
                }
            }
        }
        for key in new.into_iter().filter(|k| !old.contains(k)) {
            self.sets.entry(key).or_default().insert(id);
        }
    }

    /// The listed topics `filter` shows (its `only` aside), newest first, from `offset`
    /// on and at most `limit` of them; and how many it shows in all.
    pub(crate) fn page(
        &self,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> (Vec<TopicId>, usize) {
        let key = ListKey {
            stage: filter.stage,
            area: filter.area.clone(),
            category: filter.category.clone(),
        };
        match self.sets.get(&key) {
            Some(set) => {
                let page = set.iter().rev().skip(offset).take(limit).copied();
                (page.collect(), set.len())
            }
            None => (Vec::new(), 0),
        }
    }
}

impl EventBody {
    /// The topic whose place on the public list this event may change. Every event is
    /// named, so a new one must say whether it moves a topic on the list.
    pub(crate) fn relisted_topic(&self) -> Option<TopicId> {
        use EventBody::*;
        match self {
            TopicSubmitted { topic } => Some(topic.id),
            TopicPublished { topic } | TopicRejected { topic, .. } => Some(*topic),
            TopicMerged { duplicate, .. } => Some(*duplicate),
            StageAdvanced { topic, .. } => Some(*topic),
            Supported { .. }
            | CommentPosted { .. }
            | CommentPublished { .. }
            | CommentRejected { .. }
            | ThresholdSet { .. }
            | SelectedIntoMeeting { .. }
            | OpinionRecorded { .. }
            | OutcomeCreated { .. }
            | ProgressReported { .. }
            | OutcomeReviewed { .. }
            | Followed { .. }
            | Unfollowed { .. }
            | StudioOpened { .. }
            | MessagePosted { .. }
            | MessagePublished { .. }
            | MessageRejected { .. }
            | MessageReplied { .. }
            | DutyScheduled { .. }
            | DutyCancelled { .. }
            | ReportFiled { .. } => None,
        }
    }
}

impl Board {
    /// Where the public list files topic `id`; `None` when it does not list it.
    pub(crate) fn listing(&self, id: TopicId) -> Option<Listing> {
        self.topics
            .get(&id)
            .filter(|t| is_listed(t))
            .map(|t| Listing {
                stage: t.topic.stage,
                area: t.topic.area.clone(),
                category: t.topic.category.clone(),
            })
    }

    /// File topic `id` where it belongs now, `before` being where it was filed before the
    /// event just folded.
    pub(crate) fn relist(&mut self, id: TopicId, before: Option<Listing>) {
        let after = self.listing(id);
        self.listed.refile(id, before.as_ref(), after.as_ref());
    }
}
