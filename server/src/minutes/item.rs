//! What a meeting did on one agenda item (议程), as the public may read it: the board's
//! link from a topic (议题) to its consultation (协商过程). A topic selected into a
//! meeting is the agenda item `议题：<title>`; [`ItemRecord::of`] keeps from the minutes
//! the speeches given, the polls opened and the questions approved while that item was
//! current.
//!
//! Pure, like the minutes it reads: no I/O, no clock. It must never show what the room
//! keeps from the public: a poll's result before it was published, who voted what, a
//! question that was not approved (or was merged into another).

use serde::Serialize;
use yishi_protocol::{EntryKind, Millis, Outcome, PollMethod, Tally};

use super::{Minutes, option_labels};

/// One agenda item of one meeting, as its record tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRecord {
    /// The meeting's room id.
    pub meeting: String,
    /// The meeting's title.
    pub title: String,
    /// The agenda item's title.
    pub item: String,
    /// When the item first became current; `None` while the meeting has not reached it.
    pub started_at: Option<Millis>,
    pub speeches: Vec<ItemSpeech>,
    pub polls: Vec<ItemPoll>,
    pub questions: Vec<ItemQuestion>,
}

/// A turn at the floor (发言) under the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemSpeech {
    /// Who spoke, as the minutes print it (`李委员`, `王某（东区分会场）`).
    pub name: String,
    pub sector: Option<String>,
    pub kind: EntryKind,
    pub started_at: Millis,
    /// Time spoken; `None` while the turn goes on.
    pub spoken_ms: Option<u32>,
}

/// A poll (表决) opened under the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemPoll {
    pub question: String,
    /// `yes_no_abstain`, `single`, `multiple` or `rating`: how to read the counts.
    pub method: &'static str,
    /// The counters' labels, in order (赞成/反对/弃权, the options, or the stars).
    pub labels: Vec<String>,
    /// The declared result, once published; `None` before.
    pub result: Option<ItemResult>,
}

/// A published result: the counts of each electorate, kept apart, and what was declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    pub binding: Option<Tally>,
    pub advisory: Option<Tally>,
    pub outcome: Outcome,
}

/// An approved question (提问) asked under the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemQuestion {
    pub text: String,
    pub answered: bool,
}

impl ItemRecord {
    /// What the meeting of `minutes` did under the agenda item titled `item`.
    pub fn of(minutes: &Minutes, item: &str) -> ItemRecord {
        let under = |i: &Option<String>| i.as_deref() == Some(item);
        ItemRecord {
            meeting: minutes.room.clone(),
            title: minutes.title.clone(),
            item: item.to_owned(),
            started_at: minutes
                .agenda
                .iter()
                .filter(|a| a.title == item)
                .filter_map(|a| a.started_at)
                .min(),
            speeches: minutes
                .speeches
                .iter()
                .filter(|s| under(&s.item))
                .map(|s| ItemSpeech {
                    name: s.who(),
                    sector: s.sector.clone(),
                    kind: s.kind,
                    started_at: s.started_at,
                    spoken_ms: s.spoken_ms,
                })
                .collect(),
            polls: minutes
                .polls
                .iter()
                .filter(|p| under(&p.item) && p.opened_at.is_some())
                .map(|p| ItemPoll {
                    question: p.question.clone(),
                    method: match p.method {
                        PollMethod::YesNoAbstain => "yes_no_abstain",
                        PollMethod::Single { .. } => "single",
                        PollMethod::Multiple { .. } => "multiple",
                        PollMethod::Rating => "rating",
                    },
                    labels: option_labels(&p.method),
                    result: p.published.then_some(p.result.as_ref()).flatten().map(|r| {
                        ItemResult {
                            binding: r.binding.clone(),
                            advisory: r.advisory.clone(),
                            outcome: r.outcome,
                        }
                    }),
                })
                .collect(),
            questions: minutes
                .questions
                .iter()
                .filter(|q| under(&q.item) && q.merged_into.is_none())
                .map(|q| ItemQuestion {
                    text: q.text.clone(),
                    answered: q.answered,
                })
                .collect(),
        }
    }
}
