//! Polls (表决 / 投票 / 问卷): methods, electorates, ballots, tallies and results.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Millis, ParticipantId, PollId};

/// How a poll is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum PollMethod {
    /// Pick one option.
    Single { options: Vec<String> },
    /// Pick between `min` and `max` options.
    Multiple {
        options: Vec<String>,
        min: u8,
        max: u8,
    },
    /// 赞成 / 反对 / 弃权.
    YesNoAbstain,
    /// One to five stars.
    Rating,
}

impl PollMethod {
    /// How many counters a tally of this method has: one per option, three for
    /// yes/no/abstain, five for ratings (index 0 is one star).
    pub fn counters(&self) -> usize {
        match self {
            PollMethod::Single { options } | PollMethod::Multiple { options, .. } => options.len(),
            PollMethod::YesNoAbstain => 3,
            PollMethod::Rating => 5,
        }
    }
}

/// A yes/no/abstain vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum YesNo {
    Yes,
    No,
    Abstain,
}

/// A ballot's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Choice {
    /// Index of the chosen option.
    Single {
        option: u8,
    },
    /// Indices of the chosen options.
    Multiple {
        options: Vec<u8>,
    },
    YesNoAbstain {
        vote: YesNo,
    },
    /// 1 to 5.
    Rating {
        stars: u8,
    },
}

/// The two electorates, never mixed: members with the binding vote, and the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Electorate {
    Binding,
    Advisory,
}

/// Who may see results, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ResultsVisibility {
    /// Everyone who may vote sees the running tally (not allowed for secret polls).
    Live,
    /// Everyone sees the results once the poll is closed.
    AfterClose,
    /// Hosts see them; everyone else once they are published.
    HostsUntilPublished,
}

/// What a count is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Base {
    /// Ballots cast (abstentions included).
    Cast,
    /// Those eligible when the poll opened (present and granted).
    Present,
    /// The whole roll of members entitled to vote.
    Entitled,
}

/// The share of the base a proposal needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum MajorityRule {
    /// More yes than no (for a choice: the leading option, without a tie). The base is
    /// not used.
    Simple,
    /// More than half of the base.
    Absolute,
    /// At least two thirds of the base.
    TwoThirds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Majority {
    pub rule: MajorityRule,
    pub of: Base,
}

/// At least `percent` of the base must cast a ballot for the result to stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Quorum {
    pub percent: u8,
    /// `present` or `entitled`.
    pub of: Base,
}

/// Everything a host sets when creating a poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PollSpec {
    pub question: String,
    pub method: PollMethod,
    /// Members with the binding vote take part.
    pub binding: bool,
    /// The audience takes part (advisory).
    pub advisory: bool,
    /// Secret (不记名): no link between a voter and a ballot is ever kept.
    pub secret: bool,
    pub visibility: ResultsVisibility,
    /// A voter may change their ballot until the poll closes (named polls only).
    pub allow_change: bool,
    /// The poll closes by itself this many seconds after it opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub deadline_s: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub quorum: Option<Quorum>,
    /// How the binding result is declared (yes/no/abstain and single choice).
    pub majority: Majority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PollState {
    Draft,
    Open,
    Closed,
    Published,
}

/// The counts of one electorate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Tally {
    /// Ballots cast.
    pub ballots: u32,
    /// One counter per option (yes/no/abstain: three; rating: five, one star first).
    pub counts: Vec<u32>,
}

/// The declared result of the binding electorate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Outcome {
    Passed,
    Failed,
    /// Too few ballots for the quorum.
    NoQuorum,
    /// Nothing to declare: an advisory-only poll, a multiple choice or a rating.
    NotDeclared,
}

/// Results, with each electorate's counts kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PollResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub binding: Option<Tally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub advisory: Option<Tally>,
    pub outcome: Outcome,
    /// For a single choice: the winning option, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub winner: Option<u8>,
    /// Binding voters eligible when the poll opened.
    pub present: u32,
    /// The roll of members entitled to vote.
    pub entitled: u32,
}

/// A poll as one viewer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PollView {
    pub id: PollId,
    pub spec: PollSpec,
    pub state: PollState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub opened_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub deadline: Option<Millis>,
    /// Binding voters eligible (fixed when the poll opened).
    pub eligible: u32,
    /// Ballots cast so far, per electorate.
    pub turnout_binding: u32,
    pub turnout_advisory: u32,
    /// Present when this viewer may see results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub results: Option<PollResult>,
    /// The viewer has cast a ballot.
    pub voted: bool,
    /// The viewer's own ballot, for a named poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub my_choice: Option<Choice>,
    /// For a named poll shown to hosts: who voted how.
    #[serde(default)]
    pub named_ballots: Vec<NamedBallot>,
}

/// One voter's ballot in a named poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NamedBallot {
    pub voter: ParticipantId,
    pub electorate: Electorate,
    pub choice: Choice,
}
