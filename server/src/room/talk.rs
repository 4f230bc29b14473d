//! Members' chat, public comments, questions (Q&A), the word list and annotations.
//!
//! - Members' chat is unmoderated and never reaches the audience.
//! - Comments and questions are moderated: `pending → approved | rejected(reason)`. In
//!   `pre` moderation everything waits for a moderator; in `auto` an item is approved at
//!   once unless the word list matches it. Until it is approved an item reaches only the
//!   hosts (host view) and its author.
//! - Questions collect one upvote per participant (the author may upvote their own: it
//!   is one more participant backing it, and forbidding it would only push people to ask
//!   a friend). Hosts mark them answered, forward them to a respondent, pin them and merge
//!   duplicates; a merged question hands its upvoters to the target, counted once each.
//! - Moderation is counted (approvals, rejections per reason, merges, flagged items) so it
//!   can be published afterwards. Every approval counts, automatic ones included.
//!
//! State changes only in [`Room::fold_talk`]; the command handlers validate and emit.

use std::collections::{BTreeMap, BTreeSet};

use yishi_protocol::{
    ChatId, ChatMessage, Command, Comment, CommentId, Decision, ErrorCode, Event, EventBody, Grant,
    ItemStatus, ModerationMode, ModerationStats, ParticipantId, Question, QuestionId, ReasonCount,
    RejectReason, View,
};

use super::text::{clean, matches_word_list, normalise_word};
use super::view::Shown;
use super::{Cx, Rejection, Room, reject};

/// How many chat messages the room keeps (and a snapshot shows): the latest ones.
const CHAT_KEPT: usize = 200;
/// At most this many words in the word list.
const MAX_WORDS: usize = 1_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Talk {
    /// The latest [`CHAT_KEPT`] chat messages, oldest first.
    chat: Vec<ChatMessage>,
    /// Chat messages ever sent (the last chat id).
    chat_count: u32,
    comments: BTreeMap<CommentId, Comment>,
    questions: BTreeMap<QuestionId, Asked>,
    /// Normalised (NFC, trimmed, lower case), without empties or duplicates.
    word_list: Vec<String>,
    stats: Stats,
}

/// A question and who backs it. `question.upvotes` is always `upvoters.len()`.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    question: Question,
    upvoters: BTreeSet<ParticipantId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Stats {
    comments_approved: u32,
    comments_rejected: BTreeMap<RejectReason, u32>,
    questions_approved: u32,
    questions_rejected: BTreeMap<RejectReason, u32>,
    questions_merged: u32,
    flagged: u32,
}

impl Stats {
    fn published(&self) -> ModerationStats {
        fn counts(map: &BTreeMap<RejectReason, u32>) -> Vec<ReasonCount> {
            // BTreeMap order is RejectReason's declaration order.
            map.iter()
                .filter(|(_, n)| **n > 0)
                .map(|(reason, count)| ReasonCount {
                    reason: *reason,
                    count: *count,
                })
                .collect()
        }
        ModerationStats {
            comments_approved: self.comments_approved,
            comments_rejected: counts(&self.comments_rejected),
            questions_approved: self.questions_approved,
            questions_rejected: counts(&self.questions_rejected),
            questions_merged: self.questions_merged,
            flagged: self.flagged,
        }
    }
}

/// The talk part of a snapshot, as one viewer may see it.
pub(crate) struct TalkView {
    pub chat: Vec<ChatMessage>,
    pub comments: Vec<Comment>,
    pub questions: Vec<Question>,
    pub moderation: ModerationStats,
    pub word_list: Option<Vec<String>>,
}

/// Whether a viewer with `view` (who is `viewer`) may see an item by `author` in `status`.
fn item_visible(
    status: ItemStatus,
    author: &ParticipantId,
    view: View,
    viewer: &ParticipantId,
) -> bool {
    status == ItemStatus::Approved || view == View::Host || author == viewer
}

impl Room {
    pub(crate) fn talk_command(&mut self, cx: &mut Cx, command: &Command) -> Result<(), Rejection> {
        let actor = cx
            .actor
            .ok_or_else(|| Rejection::new(ErrorCode::Internal, "no actor"))?;
        match command {
            Command::SendChat { text } => {
                actor.require(Grant::Chat)?;
                let text = clean(text)?;
                let message = ChatMessage {
                    id: ChatId(self.talk.chat_count + 1),
                    from: actor.id().clone(),
                    from_name: actor.name().to_owned(),
                    text,
                    at: cx.now,
                };
                self.emit(cx, EventBody::ChatSent { message });
            }
            Command::PostComment { text } => {
                actor.require(Grant::Comment)?;
                let text = clean(text)?;
                let (status, flagged) = self.arrival(&text);
                let comment = Comment {
                    id: CommentId(self.next_comment_id()),
                    author: actor.id().clone(),
                    author_name: actor.name().to_owned(),
                    text,
                    at: cx.now,
                    status,
                    flagged,
                    rejected: None,
                };
                self.emit(cx, EventBody::CommentPosted { comment });
            }
            Command::ModerateComment { comment, decision } => {
                actor.require(Grant::Moderate)?;
                let Some(found) = self.talk.comments.get(comment) else {
                    return reject(ErrorCode::NotFound, format!("no comment {}", comment.0));
                };
                if found.status != ItemStatus::Pending {
                    return reject(
                        ErrorCode::InvalidState,
                        format!("comment {} was already moderated", comment.0),
                    );
                }
                let body = match decision {
                    Decision::Approve => EventBody::CommentApproved {
                        comment: Comment {
                            status: ItemStatus::Approved,
                            ..found.clone()
                        },
                    },
                    Decision::Reject { reason } => EventBody::CommentRejected {
                        comment: *comment,
                        reason: *reason,
                    },
                };
                self.emit(cx, body);
            }
            Command::AskQuestion { text } => {
                actor.require(Grant::Ask)?;
                let text = clean(text)?;
                let (status, flagged) = self.arrival(&text);
                let question = Question {
                    id: QuestionId(self.next_question_id()),
                    author: actor.id().clone(),
                    author_name: actor.name().to_owned(),
                    text,
                    at: cx.now,
                    status,
                    flagged,
                    upvotes: 0,
                    answered: false,
                    pinned: false,
                    forwarded_to: None,
                    merged_into: None,
                    rejected: None,
                };
                self.emit(cx, EventBody::QuestionAsked { question });
            }
            Command::ModerateQuestion { question, decision } => {
                actor.require(Grant::Moderate)?;
                let found = self.question(*question)?;
                if found.status != ItemStatus::Pending || found.merged_into.is_some() {
                    return reject(
                        ErrorCode::InvalidState,
                        format!("question {} was already moderated or merged", question.0),
                    );
                }
                let body = match decision {
                    Decision::Approve => EventBody::QuestionApproved {
                        question: Question {
                            status: ItemStatus::Approved,
                            ..found.clone()
                        },
                    },
                    Decision::Reject { reason } => EventBody::QuestionRejected {
                        question: *question,
                        reason: *reason,
                    },
                };
                self.emit(cx, body);
            }
            Command::Upvote { question } => {
                actor.require(Grant::Ask)?;
                self.question_open(*question)?;
                let backed = self
                    .talk
                    .questions
                    .get(question)
                    .is_some_and(|q| q.upvoters.contains(actor.id()));
                if backed {
                    return reject(
                        ErrorCode::AlreadyUpvoted,
                        format!("you already upvoted question {}", question.0),
                    );
                }
                self.emit(
                    cx,
                    EventBody::QuestionUpvoted {
                        question: *question,
                        by: actor.id().clone(),
                    },
                );
            }
            Command::MarkAnswered { question } => {
                actor.require(Grant::Moderate)?;
                if self.question_open(*question)?.answered {
                    return Ok(());
                }
                self.emit(
                    cx,
                    EventBody::QuestionAnswered {
                        question: *question,
                    },
                );
            }
            Command::ForwardQuestion { question, to } => {
                actor.require(Grant::Moderate)?;
                let found = self.question_open(*question)?;
                if self.roster.get(to).is_none() {
                    return reject(ErrorCode::NotFound, format!("no participant {}", to.0));
                }
                if found.forwarded_to.as_ref() == Some(to) {
                    return Ok(());
                }
                self.emit(
                    cx,
                    EventBody::QuestionForwarded {
                        question: *question,
                        to: to.clone(),
                    },
                );
            }
            Command::PinQuestion { question, pinned } => {
                actor.require(Grant::Moderate)?;
                if self.question_open(*question)?.pinned == *pinned {
                    return Ok(());
                }
                self.emit(
                    cx,
                    EventBody::QuestionPinned {
                        question: *question,
                        pinned: *pinned,
                    },
                );
            }
            Command::MergeQuestion { question, into } => {
                actor.require(Grant::Moderate)?;
                let source = self.question(*question)?;
                self.question(*into)?;
                if question == into {
                    return reject(
                        ErrorCode::InvalidArgument,
                        "a question cannot be merged into itself",
                    );
                }
                if source.merged_into.is_some() {
                    return reject(
                        ErrorCode::InvalidState,
                        format!("question {} is already merged", question.0),
                    );
                }
                if source.status == ItemStatus::Rejected {
                    return reject(
                        ErrorCode::InvalidState,
                        format!("question {} was rejected", question.0),
                    );
                }
                self.question_open(*into)?;
                let unpin = source.pinned;
                if unpin {
                    // A duplicate does not stay on top; say so in the record.
                    self.emit(
                        cx,
                        EventBody::QuestionPinned {
                            question: *question,
                            pinned: false,
                        },
                    );
                }
                self.emit(
                    cx,
                    EventBody::QuestionMerged {
                        question: *question,
                        into: *into,
                    },
                );
            }
            Command::SetWordList { words } => {
                actor.require(Grant::Moderate)?;
                let words = word_list(words)?;
                if words == self.talk.word_list {
                    return Ok(());
                }
                self.emit(cx, EventBody::WordListSet { words });
            }
            Command::Annotate { text } => {
                actor.require(Grant::Annotate)?;
                let text = clean(text)?;
                self.emit(cx, EventBody::Annotated { text });
            }
            _ => return reject(ErrorCode::Internal, "not a talk command"),
        }
        Ok(())
    }

    pub(crate) fn fold_talk(&mut self, event: &Event) {
        let talk = &mut self.talk;
        match &event.body {
            EventBody::ChatSent { message } => {
                talk.chat_count = talk.chat_count.max(message.id.0);
                talk.chat.push(message.clone());
                if talk.chat.len() > CHAT_KEPT {
                    let excess = talk.chat.len() - CHAT_KEPT;
                    talk.chat.drain(..excess);
                }
            }
            EventBody::CommentPosted { comment } => {
                if comment.status == ItemStatus::Approved {
                    talk.stats.comments_approved += 1;
                }
                if comment.flagged {
                    talk.stats.flagged += 1;
                }
                talk.comments.insert(comment.id, comment.clone());
            }
            EventBody::CommentApproved { comment } => {
                if let Some(c) = talk.comments.get_mut(&comment.id) {
                    c.status = ItemStatus::Approved;
                    talk.stats.comments_approved += 1;
                }
            }
            EventBody::CommentRejected { comment, reason } => {
                if let Some(c) = talk.comments.get_mut(comment) {
                    c.status = ItemStatus::Rejected;
                    c.rejected = Some(*reason);
                    *talk.stats.comments_rejected.entry(*reason).or_default() += 1;
                }
            }
            EventBody::QuestionAsked { question } => {
                if question.status == ItemStatus::Approved {
                    talk.stats.questions_approved += 1;
                }
                if question.flagged {
                    talk.stats.flagged += 1;
                }
                talk.questions.insert(
                    question.id,
                    Asked {
                        question: question.clone(),
                        upvoters: BTreeSet::new(),
                    },
                );
            }
            EventBody::QuestionApproved { question } => {
                if let Some(q) = talk.questions.get_mut(&question.id) {
                    q.question.status = ItemStatus::Approved;
                    talk.stats.questions_approved += 1;
                }
            }
            EventBody::QuestionRejected { question, reason } => {
                if let Some(q) = talk.questions.get_mut(question) {
                    q.question.status = ItemStatus::Rejected;
                    q.question.rejected = Some(*reason);
                    *talk.stats.questions_rejected.entry(*reason).or_default() += 1;
                }
            }
            EventBody::QuestionUpvoted { question, by } => {
                if let Some(q) = talk.questions.get_mut(question) {
                    q.upvoters.insert(by.clone());
                    q.question.upvotes = count(&q.upvoters);
                }
            }
            EventBody::QuestionAnswered { question } => {
                if let Some(q) = talk.questions.get_mut(question) {
                    q.question.answered = true;
                }
            }
            EventBody::QuestionForwarded { question, to } => {
                if let Some(q) = talk.questions.get_mut(question) {
                    q.question.forwarded_to = Some(to.clone());
                }
            }
            EventBody::QuestionPinned { question, pinned } => {
                if let Some(q) = talk.questions.get_mut(question) {
                    q.question.pinned = *pinned;
                }
            }
            EventBody::QuestionMerged { question, into } => {
                let moved = match talk.questions.get_mut(question) {
                    Some(q) => {
                        q.question.merged_into = Some(*into);
                        q.question.upvotes = 0;
                        std::mem::take(&mut q.upvoters)
                    }
                    None => BTreeSet::new(),
                };
                if let Some(target) = talk.questions.get_mut(into) {
                    target.upvoters.extend(moved);
                    target.question.upvotes = count(&target.upvoters);
                }
                talk.stats.questions_merged += 1;
            }
            EventBody::WordListSet { words } => talk.word_list = words.clone(),
            // Annotations live in the record only; no state keeps them.
            EventBody::Annotated { .. } => {}
            _ => {}
        }
    }

    pub(crate) fn talk_shown(&self, event: &Event, view: View) -> Shown {
        if view == View::Host {
            return Shown::Full;
        }
        let everyone = match &event.body {
            EventBody::ChatSent { .. } => view == View::Member,
            EventBody::CommentPosted { comment } => comment.status == ItemStatus::Approved,
            EventBody::QuestionAsked { question } => question.status == ItemStatus::Approved,
            EventBody::CommentApproved { .. } | EventBody::QuestionApproved { .. } => true,
            EventBody::QuestionUpvoted { question, .. }
            | EventBody::QuestionAnswered { question }
            | EventBody::QuestionForwarded { question, .. }
            | EventBody::QuestionPinned { question, .. }
            | EventBody::QuestionMerged { question, .. } => self.question_public(*question),
            _ => false,
        };
        if everyone { Shown::Full } else { Shown::Hidden }
    }

    pub(crate) fn talk_private<'e>(&'e self, event: &'e Event) -> Option<&'e ParticipantId> {
        match &event.body {
            EventBody::CommentPosted { comment } if comment.status != ItemStatus::Approved => {
                Some(&comment.author)
            }
            EventBody::QuestionAsked { question } if question.status != ItemStatus::Approved => {
                Some(&question.author)
            }
            EventBody::CommentRejected { comment, .. } => {
                self.talk.comments.get(comment).map(|c| &c.author)
            }
            EventBody::QuestionRejected { question, .. } => self.question_author(*question),
            EventBody::QuestionUpvoted { question, .. }
            | EventBody::QuestionAnswered { question }
            | EventBody::QuestionForwarded { question, .. }
            | EventBody::QuestionPinned { question, .. }
            | EventBody::QuestionMerged { question, .. }
                if !self.question_public(*question) =>
            {
                self.question_author(*question)
            }
            _ => None,
        }
    }

    pub(crate) fn talk_snapshot(&self, view: View, viewer: &ParticipantId) -> TalkView {
        let chat = if view == View::Audience {
            Vec::new()
        } else {
            let skip = self.talk.chat.len().saturating_sub(CHAT_KEPT);
            self.talk.chat[skip..].to_vec()
        };
        let comments = self
            .talk
            .comments
            .values()
            .filter(|c| item_visible(c.status, &c.author, view, viewer))
            .cloned()
            .collect();
        let mut questions: Vec<Question> = self
            .talk
            .questions
            .values()
            .map(|q| &q.question)
            .filter(|q| item_visible(q.status, &q.author, view, viewer))
            .cloned()
            .collect();
        questions.sort_by(|a, b| {
            b.pinned
                .cmp(&a.pinned)
                .then(b.upvotes.cmp(&a.upvotes))
                .then(a.id.cmp(&b.id))
        });
        TalkView {
            chat,
            comments,
            questions,
            moderation: self.talk.stats.published(),
            word_list: (view == View::Host).then(|| self.talk.word_list.clone()),
        }
    }

    // ----- helpers -----

    /// The status and flag a new comment or question starts with.
    fn arrival(&self, text: &str) -> (ItemStatus, bool) {
        let flagged = matches_word_list(text, &self.talk.word_list);
        let status = match self.current_settings().moderation {
            ModerationMode::Auto if !flagged => ItemStatus::Approved,
            ModerationMode::Auto | ModerationMode::Pre => ItemStatus::Pending,
        };
        (status, flagged)
    }

    fn next_comment_id(&self) -> u32 {
        self.talk.comments.keys().next_back().map_or(0, |id| id.0) + 1
    }

    fn next_question_id(&self) -> u32 {
        self.talk.questions.keys().next_back().map_or(0, |id| id.0) + 1
    }

    /// A question, or `not_found`.
    fn question(&self, id: QuestionId) -> Result<&Question, Rejection> {
        match self.talk.questions.get(&id) {
            Some(q) => Ok(&q.question),
            None => reject(ErrorCode::NotFound, format!("no question {}", id.0)),
        }
    }

    /// An approved, unmerged question (one that can be upvoted, answered, pinned,
    /// forwarded or merged into), or why not.
    fn question_open(&self, id: QuestionId) -> Result<&Question, Rejection> {
        let q = self.question(id)?;
        if let Some(target) = q.merged_into {
            return reject(
                ErrorCode::InvalidState,
                format!("question {} was merged into question {}", id.0, target.0),
            );
        }
        if q.status != ItemStatus::Approved {
            return reject(
                ErrorCode::InvalidState,
                format!("question {} is not approved", id.0),
            );
        }
        Ok(q)
    }

    /// Whether everyone may see events about question `id`.
    fn question_public(&self, id: QuestionId) -> bool {
        self.talk
            .questions
            .get(&id)
            .is_some_and(|q| q.question.status == ItemStatus::Approved)
    }

    fn question_author(&self, id: QuestionId) -> Option<&ParticipantId> {
        self.talk.questions.get(&id).map(|q| &q.question.author)
    }
}

/// Upvoters as a count.
fn count(upvoters: &BTreeSet<ParticipantId>) -> u32 {
    u32::try_from(upvoters.len()).unwrap_or(u32::MAX)
}

/// A word list as it is stored: normalised, no empties, no duplicates, first occurrence
/// order kept.
fn word_list(words: &[String]) -> Result<Vec<String>, Rejection> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for word in words {
        let word = normalise_word(word);
        if word.is_empty() || seen.contains(&word) {
            continue;
        }
        if word.chars().any(char::is_control) {
            return reject(
                ErrorCode::TextInvalid,
                "control characters are not allowed in the word list",
            );
        }
        if word.chars().count() > yishi_protocol::MAX_TEXT_CHARS {
            return reject(ErrorCode::TextTooLong, "a word of the list is too long");
        }
        seen.insert(word.clone());
        out.push(word);
        if out.len() > MAX_WORDS {
            return reject(
                ErrorCode::InvalidArgument,
                format!("at most {MAX_WORDS} words in the list"),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use yishi_protocol::{
        Command, Decision, ErrorCode, Event, EventBody, ItemStatus, ModerationMode, Participant,
        ParticipantId, QuestionId, ReasonCount, RejectReason, RequestId, Role, SettingsPatch,
    };

    use super::super::tests::Fixture;
    use super::super::{Actor, Applied, Room};
    use super::CHAT_KEPT;
    use yishi_protocol::{CommentId, View};

    fn second_audience() -> Actor {
        Actor::new(Participant::new("a2", "网民乙", Role::Audience))
    }

    /// The one event a command caused.
    fn only(applied: &Applied) -> &Event {
        assert_eq!(applied.events.len(), 1, "{:?}", applied.events);
        &applied.events[0]
    }

    /// Whether `who` gets `event` live.
    fn reaches(room: &Room, event: &Event, who: &Actor) -> bool {
        room.event_for_viewer(event, who.view(), who.id()).is_some()
    }

    fn auto_moderation(f: &mut Fixture) {
        let host = f.host.clone();
        f.ok(
            &host,
            Command::UpdateSettings {
                item: None,
                patch: SettingsPatch {
                    moderation: Some(ModerationMode::Auto),
                    ..SettingsPatch::default()
                },
            },
        );
    }

    fn comment(f: &mut Fixture, who: &Actor, text: &str) -> (CommentId, Event) {
        let applied = f.ok(who, Command::PostComment { text: text.into() });
        let event = only(&applied).clone();
        let EventBody::CommentPosted { comment } = &event.body else {
            panic!("not a comment: {event:?}");
        };
        (comment.id, event)
    }

    fn ask(f: &mut Fixture, who: &Actor, text: &str) -> QuestionId {
        let applied = f.ok(who, Command::AskQuestion { text: text.into() });
        let EventBody::QuestionAsked { question } = &only(&applied).body else {
            panic!("not a question: {:?}", applied.events);
        };
        question.id
    }

    /// An approved question by `who`.
    fn approved_question(f: &mut Fixture, who: &Actor, text: &str) -> QuestionId {
        let id = ask(f, who, text);
        let host = f.host.clone();
        f.ok(
            &host,
            Command::ModerateQuestion {
                question: id,
                decision: Decision::Approve,
            },
        );
        id
    }

    fn upvotes(f: &Fixture, id: QuestionId) -> u32 {
        f.room.talk.questions[&id].question.upvotes
    }

    #[test]
    fn a_pending_comment_reaches_hosts_and_its_author_and_nobody_else() {
        let mut f = Fixture::new();
        let (a1, a2) = (f.audience.clone(), second_audience());
        let (id, event) = comment(&mut f, &a1, "建议增加社区养老服务点");
        let EventBody::CommentPosted { comment } = &event.body else {
            unreachable!()
        };
        assert_eq!(comment.status, ItemStatus::Pending);
        assert_eq!(comment.author, *a1.id());
        assert_eq!(comment.author_name, "网民甲");
        assert_eq!(comment.at, f.now);
        assert!(!comment.flagged);

        assert!(reaches(&f.room, &event, &f.host));
        assert!(reaches(&f.room, &event, &f.recorder));
        assert!(reaches(&f.room, &event, &a1));
        assert!(!reaches(&f.room, &event, &a2));
        assert!(!reaches(&f.room, &event, &f.m1));
        assert!(!reaches(&f.room, &event, &f.observer));

        let seen = |f: &Fixture, who: &Actor| {
            f.room
                .snapshot(who.view(), who.id())
                .comments
                .iter()
                .any(|c| c.id == id)
        };
        assert!(seen(&f, &f.host));
        assert!(seen(&f, &a1));
        assert!(!seen(&f, &a2));
        assert!(!seen(&f, &f.m1));
    }

    #[test]
    fn an_approved_comment_reaches_the_audience_with_its_text() {
        let mut f = Fixture::new();
        let (host, a1, a2) = (f.host.clone(), f.audience.clone(), second_audience());
        let (id, _) = comment(&mut f, &a1, "公交线路太少");
        let applied = f.ok(
            &host,
            Command::ModerateComment {
                comment: id,
                decision: Decision::Approve,
            },
        );
        let event = only(&applied);
        let EventBody::CommentApproved { comment } = &event.body else {
            panic!("{event:?}")
        };
        assert_eq!(comment.text, "公交线路太少");
        assert_eq!(comment.status, ItemStatus::Approved);
        assert_eq!(comment.author_name, "网民甲");
        assert!(reaches(&f.room, event, &a2));
        assert!(reaches(&f.room, event, &f.m1));
        let snap = f.room.snapshot(View::Audience, a2.id());
        assert_eq!(snap.comments.len(), 1);
        assert_eq!(snap.comments[0].text, "公交线路太少");
        assert_eq!(snap.moderation.comments_approved, 1);

        // Moderated once only.
        let again = f.refused(
            &host,
            Command::ModerateComment {
                comment: id,
                decision: Decision::Reject {
                    reason: RejectReason::Other,
                },
            },
        );
        assert_eq!(again.code, ErrorCode::InvalidState);
        let unknown = f.refused(
            &host,
            Command::ModerateComment {
                comment: CommentId(99),
                decision: Decision::Approve,
            },
        );
        assert_eq!(unknown.code, ErrorCode::NotFound);
    }

    #[test]
    fn the_author_of_a_rejected_item_sees_why_in_the_snapshot() {
        let mut f = Fixture::new();
        let (host, a1, m1) = (f.host.clone(), f.audience.clone(), f.m1.clone());
        let (id, _) = comment(&mut f, &a1, "加微信领红包");
        f.ok(
            &host,
            Command::ModerateComment {
                comment: id,
                decision: Decision::Reject {
                    reason: RejectReason::Advertising,
                },
            },
        );
        let q = ask(&mut f, &m1, "重复的问题");
        f.ok(
            &host,
            Command::ModerateQuestion {
                question: q,
                decision: Decision::Reject {
                    reason: RejectReason::Duplicate,
                },
            },
        );
        let mine = f.room.snapshot(View::Audience, a1.id());
        assert_eq!(mine.comments[0].rejected, Some(RejectReason::Advertising));
        let mine = f.room.snapshot(View::Member, m1.id());
        assert_eq!(mine.questions[0].rejected, Some(RejectReason::Duplicate));
        assert!(
            f.room
                .snapshot(View::Member, f.m2.id())
                .questions
                .is_empty(),
            "nobody else sees it"
        );
    }

    #[test]
    fn a_rejection_is_counted_by_reason() {
        let mut f = Fixture::new();
        let (host, a1, a2, m1) = (
            f.host.clone(),
            f.audience.clone(),
            second_audience(),
            f.m1.clone(),
        );
        let reject = |reason| Decision::Reject { reason };
        let mut last = None;
        for (text, reason) in [
            ("加微信领红包", RejectReason::Advertising),
            ("骂人的话", RejectReason::Abusive),
            ("又一个广告", RejectReason::Advertising),
        ] {
            let (id, _) = comment(&mut f, &a1, text);
            let applied = f.ok(
                &host,
                Command::ModerateComment {
                    comment: id,
                    decision: reject(reason),
                },
            );
            last = Some(only(&applied).clone());
        }
        let rejected = last.unwrap();
        assert!(reaches(&f.room, &rejected, &a1), "the author learns it");
        assert!(reaches(&f.room, &rejected, &f.recorder));
        assert!(!reaches(&f.room, &rejected, &a2));
        assert!(!reaches(&f.room, &rejected, &f.m1));

        let q = ask(&mut f, &m1, "重复的问题");
        f.ok(
            &host,
            Command::ModerateQuestion {
                question: q,
                decision: reject(RejectReason::Duplicate),
            },
        );

        let stats = f.room.snapshot(View::Audience, a2.id()).moderation;
        assert_eq!(
            stats.comments_rejected,
            vec![
                ReasonCount {
                    reason: RejectReason::Abusive,
                    count: 1
                },
                ReasonCount {
                    reason: RejectReason::Advertising,
                    count: 2
                },
            ]
        );
        assert_eq!(
            stats.questions_rejected,
            vec![ReasonCount {
                reason: RejectReason::Duplicate,
                count: 1
            }]
        );
        assert_eq!(stats.comments_approved, 0);
        // The author still sees their own rejected item; others do not.
        assert_eq!(f.room.snapshot(View::Audience, a1.id()).comments.len(), 3);
        assert!(f.room.snapshot(View::Audience, a2.id()).comments.is_empty());
        assert_eq!(f.room.snapshot(View::Host, host.id()).comments.len(), 3);
    }

    #[test]
    fn the_word_list_holds_back_an_item_even_in_auto_mode() {
        let mut f = Fixture::new();
        let (host, a1, a2) = (f.host.clone(), f.audience.clone(), second_audience());
        auto_moderation(&mut f);
        let applied = f.ok(
            &host,
            Command::SetWordList {
                words: vec![" SPAM ".into(), "spam".into(), "".into(), "广告".into()],
            },
        );
        let event = only(&applied);
        assert_eq!(
            event.body,
            EventBody::WordListSet {
                words: vec!["spam".into(), "广告".into()]
            }
        );
        assert!(reaches(&f.room, event, &f.recorder));
        assert!(!reaches(&f.room, event, &f.m1));
        assert!(!reaches(&f.room, event, &a1));
        // The same list again changes nothing.
        let same = f.ok(
            &host,
            Command::SetWordList {
                words: vec!["spam".into(), "广告".into()],
            },
        );
        assert!(same.events.is_empty());

        let (clean_id, clean) = comment(&mut f, &a1, "支持这个方案");
        assert!(reaches(&f.room, &clean, &a2), "auto mode publishes at once");
        let (held_id, held) = comment(&mut f, &a1, "Cheap Spam here");
        let EventBody::CommentPosted { comment } = &held.body else {
            unreachable!()
        };
        assert_eq!(comment.status, ItemStatus::Pending);
        assert!(comment.flagged);
        assert!(!reaches(&f.room, &held, &a2));
        assert!(reaches(&f.room, &held, &a1));

        let m1 = f.m1.clone();
        let q = ask(&mut f, &m1, "这是广告吗");
        assert_eq!(
            f.room.talk.questions[&q].question.status,
            ItemStatus::Pending
        );

        let snap = f.room.snapshot(View::Audience, a2.id());
        assert_eq!(
            snap.comments.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![clean_id]
        );
        assert_eq!(snap.moderation.flagged, 2);
        assert_eq!(snap.moderation.comments_approved, 1);
        assert_eq!(snap.word_list, None);
        let host_snap = f.room.snapshot(View::Host, host.id());
        assert_eq!(
            host_snap.word_list,
            Some(vec!["spam".to_owned(), "广告".to_owned()])
        );
        assert!(host_snap.comments.iter().any(|c| c.id == held_id));
    }

    #[test]
    fn pre_moderation_flags_but_holds_everything() {
        let mut f = Fixture::new();
        let (host, a1) = (f.host.clone(), f.audience.clone());
        f.ok(
            &host,
            Command::SetWordList {
                words: vec!["广告".into()],
            },
        );
        let (_, plain) = comment(&mut f, &a1, "普通意见");
        let (_, flagged) = comment(&mut f, &a1, "这是广告");
        for (event, flag) in [(plain, false), (flagged, true)] {
            let EventBody::CommentPosted { comment } = &event.body else {
                unreachable!()
            };
            assert_eq!(comment.status, ItemStatus::Pending);
            assert_eq!(comment.flagged, flag);
        }
    }

    #[test]
    fn one_upvote_per_participant() {
        let mut f = Fixture::new();
        let (m1, m2, a1) = (f.m1.clone(), f.m2.clone(), f.audience.clone());
        let q = approved_question(&mut f, &m1, "养老金什么时候调整？");
        let applied = f.ok(&m2, Command::Upvote { question: q });
        assert!(reaches(&f.room, only(&applied), &a1));
        let twice = f.refused(&m2, Command::Upvote { question: q });
        assert_eq!(twice.code, ErrorCode::AlreadyUpvoted);
        // The author may back their own question.
        f.ok(&m1, Command::Upvote { question: q });
        f.ok(&a1, Command::Upvote { question: q });
        assert_eq!(upvotes(&f, q), 3);

        let pending = ask(&mut f, &a1, "还没审核的问题");
        let refused = f.refused(&m2, Command::Upvote { question: pending });
        assert_eq!(refused.code, ErrorCode::InvalidState);
        let unknown = f.refused(
            &m2,
            Command::Upvote {
                question: QuestionId(42),
            },
        );
        assert_eq!(unknown.code, ErrorCode::NotFound);
    }

    #[test]
    fn a_merged_duplicate_hands_its_upvotes_to_the_target_without_counting_anyone_twice() {
        let mut f = Fixture::new();
        let (host, m1, m2, m3, a1) = (
            f.host.clone(),
            f.m1.clone(),
            f.m2.clone(),
            f.m3.clone(),
            f.audience.clone(),
        );
        let target = approved_question(&mut f, &m1, "学区划分怎么定？");
        let dup = approved_question(&mut f, &a1, "学区是怎么划的？");
        f.ok(&m2, Command::Upvote { question: target });
        f.ok(&m3, Command::Upvote { question: target });
        f.ok(&m3, Command::Upvote { question: dup });
        f.ok(&a1, Command::Upvote { question: dup });
        f.ok(
            &host,
            Command::PinQuestion {
                question: dup,
                pinned: true,
            },
        );

        let itself = f.refused(
            &host,
            Command::MergeQuestion {
                question: dup,
                into: dup,
            },
        );
        assert_eq!(itself.code, ErrorCode::InvalidArgument);
        let merged = f.ok(
            &host,
            Command::MergeQuestion {
                question: dup,
                into: target,
            },
        );
        // The pinned duplicate is unpinned first, then merged.
        assert_eq!(merged.events.len(), 2);
        assert!(merged.events.iter().all(|e| reaches(&f.room, e, &a1)));

        assert_eq!(upvotes(&f, target), 3, "m2, m3 and a1, m3 once");
        let d = &f.room.talk.questions[&dup].question;
        assert_eq!(d.merged_into, Some(target));
        assert_eq!(d.upvotes, 0);
        assert!(!d.pinned);
        assert_eq!(
            f.room
                .snapshot(View::Audience, a1.id())
                .moderation
                .questions_merged,
            1
        );
        // Those who backed the duplicate back the target now.
        for who in [&m3, &a1] {
            let e = f.refused(who, Command::Upvote { question: target });
            assert_eq!(e.code, ErrorCode::AlreadyUpvoted);
        }
        let e = f.refused(&m1, Command::Upvote { question: dup });
        assert_eq!(e.code, ErrorCode::InvalidState);
        let e = f.refused(
            &host,
            Command::MergeQuestion {
                question: dup,
                into: target,
            },
        );
        assert_eq!(e.code, ErrorCode::InvalidState);

        // A pending duplicate may be merged too; only hosts and its author hear of it.
        let hidden = ask(&mut f, &m2, "学区问题");
        let e = f.refused(
            &host,
            Command::MergeQuestion {
                question: target,
                into: hidden,
            },
        );
        assert_eq!(
            e.code,
            ErrorCode::InvalidState,
            "the target must be approved"
        );
        let applied = f.ok(
            &host,
            Command::MergeQuestion {
                question: hidden,
                into: target,
            },
        );
        let event = only(&applied);
        assert!(reaches(&f.room, event, &m2));
        assert!(reaches(&f.room, event, &f.recorder));
        assert!(!reaches(&f.room, event, &m1));
        assert!(!reaches(&f.room, event, &a1));
        let e = f.refused(
            &host,
            Command::ModerateQuestion {
                question: hidden,
                decision: Decision::Approve,
            },
        );
        assert_eq!(e.code, ErrorCode::InvalidState);
        assert_eq!(
            f.room
                .snapshot(View::Host, host.id())
                .moderation
                .questions_merged,
            2
        );
    }

    #[test]
    fn hosts_answer_pin_and_forward_approved_questions_once() {
        let mut f = Fixture::new();
        let (host, m1, m2, a1) = (
            f.host.clone(),
            f.m1.clone(),
            f.m2.clone(),
            f.audience.clone(),
        );
        let first = approved_question(&mut f, &m1, "第一个问题");
        let second = approved_question(&mut f, &a1, "第二个问题");
        let third = approved_question(&mut f, &m2, "第三个问题");
        f.ok(&m1, Command::Upvote { question: third });

        let pin = Command::PinQuestion {
            question: second,
            pinned: true,
        };
        assert_eq!(f.ok(&host, pin.clone()).events.len(), 1);
        assert!(f.ok(&host, pin).events.is_empty(), "already pinned");
        let answered = Command::MarkAnswered { question: first };
        let event = only(&f.ok(&host, answered.clone())).clone();
        assert!(reaches(&f.room, &event, &a1));
        assert!(f.ok(&host, answered).events.is_empty(), "answered twice");

        let respondent = f.respondent.id().clone();
        let forward = Command::ForwardQuestion {
            question: third,
            to: respondent.clone(),
        };
        assert_eq!(f.ok(&host, forward.clone()).events.len(), 1);
        assert!(f.ok(&host, forward).events.is_empty());
        let nobody = f.refused(
            &host,
            Command::ForwardQuestion {
                question: third,
                to: ParticipantId::new("nobody"),
            },
        );
        assert_eq!(nobody.code, ErrorCode::NotFound);

        let pending = ask(&mut f, &a1, "待审问题");
        for command in [
            Command::MarkAnswered { question: pending },
            Command::PinQuestion {
                question: pending,
                pinned: true,
            },
            Command::ForwardQuestion {
                question: pending,
                to: respondent.clone(),
            },
        ] {
            assert_eq!(f.refused(&host, command).code, ErrorCode::InvalidState);
        }

        let snap = f.room.snapshot(View::Member, m2.id());
        let order: Vec<_> = snap.questions.iter().map(|q| q.id).collect();
        assert_eq!(order, vec![second, third, first], "pinned, upvotes, id");
        let q3 = &snap.questions[1];
        assert_eq!(q3.forwarded_to, Some(respondent));
        assert!(snap.questions[2].answered);
        assert!(
            f.room
                .snapshot(View::Audience, a1.id())
                .questions
                .iter()
                .any(|q| q.id == pending),
            "the author sees their own pending question"
        );
    }

    #[test]
    fn members_chat_never_reaches_the_audience() {
        let mut f = Fixture::new();
        let (m1, a1) = (f.m1.clone(), f.audience.clone());
        let applied = f.ok(
            &m1,
            Command::SendChat {
                text: "休会后到201室".into(),
            },
        );
        let event = only(&applied);
        let EventBody::ChatSent { message } = &event.body else {
            panic!("{event:?}")
        };
        assert_eq!(message.id.0, 1);
        assert_eq!(message.from_name, "张三");
        assert!(reaches(&f.room, event, &f.m2));
        assert!(reaches(&f.room, event, &f.host));
        assert!(reaches(&f.room, event, &f.observer));
        assert!(!reaches(&f.room, event, &a1));
        assert!(f.room.snapshot(View::Audience, a1.id()).chat.is_empty());
        assert_eq!(f.room.snapshot(View::Member, f.m2.id()).chat.len(), 1);
        let e = f.refused(&a1, Command::SendChat { text: "hi".into() });
        assert_eq!(e.code, ErrorCode::Forbidden);
    }

    #[test]
    fn the_chat_snapshot_holds_the_latest_messages_oldest_first() {
        let mut f = Fixture::new();
        let m1 = f.m1.clone();
        for i in 1..=CHAT_KEPT + 5 {
            f.ok(
                &m1,
                Command::SendChat {
                    text: format!("消息{i}"),
                },
            );
        }
        let chat = f.room.snapshot(View::Member, m1.id()).chat;
        assert_eq!(chat.len(), CHAT_KEPT);
        assert_eq!(chat[0].text, "消息6");
        assert_eq!(chat[CHAT_KEPT - 1].id.0 as usize, CHAT_KEPT + 5);
    }

    #[test]
    fn text_over_500_characters_is_refused() {
        let mut f = Fixture::new();
        let (m1, a1, rec) = (f.m1.clone(), f.audience.clone(), f.recorder.clone());
        let long = "议".repeat(501);
        let before = f.room.clone();
        for (who, command) in [
            (&a1, Command::PostComment { text: long.clone() }),
            (&a1, Command::AskQuestion { text: long.clone() }),
            (&m1, Command::SendChat { text: long.clone() }),
            (&rec, Command::Annotate { text: long.clone() }),
        ] {
            assert_eq!(f.refused(who, command).code, ErrorCode::TextTooLong);
        }
        assert_eq!(f.room, before, "a refusal changes nothing");
        let e = f.refused(&a1, Command::PostComment { text: "  ".into() });
        assert_eq!(e.code, ErrorCode::TextEmpty);
        let (_, event) = comment(&mut f, &a1, &"议".repeat(500));
        let EventBody::CommentPosted { comment } = &event.body else {
            unreachable!()
        };
        assert_eq!(comment.text.chars().count(), 500);
    }

    #[test]
    fn commands_need_their_grant() {
        let mut f = Fixture::new();
        let (host, m1, a1, o1, rec) = (
            f.host.clone(),
            f.m1.clone(),
            f.audience.clone(),
            f.observer.clone(),
            f.recorder.clone(),
        );
        let q = approved_question(&mut f, &m1, "一个问题");
        let (c, _) = comment(&mut f, &a1, "一条意见");
        let before = f.room.clone();
        let moderation = |q| {
            vec![
                Command::ModerateComment {
                    comment: c,
                    decision: Decision::Approve,
                },
                Command::ModerateQuestion {
                    question: q,
                    decision: Decision::Approve,
                },
                Command::MarkAnswered { question: q },
                Command::PinQuestion {
                    question: q,
                    pinned: true,
                },
                Command::ForwardQuestion {
                    question: q,
                    to: ParticipantId::new("r1"),
                },
                Command::MergeQuestion {
                    question: q,
                    into: q,
                },
                Command::SetWordList {
                    words: vec!["x".into()],
                },
            ]
        };
        let mut cases: Vec<(&Actor, Command)> = vec![
            (&o1, Command::SendChat { text: "x".into() }),
            (&o1, Command::PostComment { text: "x".into() }),
            (&o1, Command::AskQuestion { text: "x".into() }),
            (&o1, Command::Upvote { question: q }),
            (&m1, Command::PostComment { text: "x".into() }),
            (&a1, Command::SendChat { text: "x".into() }),
            (&m1, Command::Annotate { text: "x".into() }),
            (&a1, Command::Annotate { text: "x".into() }),
        ];
        for who in [&m1, &a1, &o1, &rec] {
            cases.extend(moderation(q).into_iter().map(|c| (who, c)));
        }
        for (who, command) in cases {
            let name = command.name();
            let e = f.refused(who, command);
            assert_eq!(e.code, ErrorCode::Forbidden, "{} {name}", who.id().0);
        }
        assert_eq!(f.room, before, "a refusal changes nothing");

        // The recorder annotates; only host views hear of it.
        let applied = f.ok(
            &rec,
            Command::Annotate {
                text: "  第二项议程开始 ".into(),
            },
        );
        let event = only(&applied);
        assert_eq!(
            event.body,
            EventBody::Annotated {
                text: "第二项议程开始".into()
            }
        );
        assert!(reaches(&f.room, event, &host));
        assert!(!reaches(&f.room, event, &m1));
        assert!(!reaches(&f.room, event, &a1));
    }

    #[test]
    fn replaying_the_record_rebuilds_the_talk_state() {
        let f = Fixture::new();
        let mut room = Room::new("测试协商会");
        let mut record: Vec<Event> = Vec::new();
        let mut now = f.now;
        for a in [
            &f.host,
            &f.m1,
            &f.m2,
            &f.m3,
            &f.respondent,
            &f.observer,
            &f.recorder,
            &f.audience,
        ] {
            record.extend(room.join(&a.participant, now).events);
        }
        let mut req = 0;
        let mut run = |room: &mut Room, now, who: &Actor, command: Command| {
            req += 1;
            let applied = room
                .apply(who, &RequestId(format!("r{req}")), &command, now)
                .unwrap();
            record.extend(applied.events);
        };
        run(&mut room, now, &f.host, Command::StartSession);
        let q = |n| QuestionId(n);
        let approve = Decision::Approve;
        let steps: Vec<(&Actor, Command)> = vec![
            (&f.m1, Command::SendChat { text: "早".into() }),
            (
                &f.host,
                Command::SetWordList {
                    words: vec!["广告".into()],
                },
            ),
            (
                &f.audience,
                Command::PostComment {
                    text: "意见一".into(),
                },
            ),
            (
                &f.audience,
                Command::PostComment {
                    text: "广告".into(),
                },
            ),
            (
                &f.host,
                Command::ModerateComment {
                    comment: CommentId(1),
                    decision: approve,
                },
            ),
            (
                &f.host,
                Command::ModerateComment {
                    comment: CommentId(2),
                    decision: Decision::Reject {
                        reason: RejectReason::Advertising,
                    },
                },
            ),
            (
                &f.m1,
                Command::AskQuestion {
                    text: "问一".into(),
                },
            ),
            (
                &f.audience,
                Command::AskQuestion {
                    text: "问二".into(),
                },
            ),
            (
                &f.m2,
                Command::AskQuestion {
                    text: "问三".into(),
                },
            ),
            (
                &f.host,
                Command::ModerateQuestion {
                    question: q(1),
                    decision: approve,
                },
            ),
            (
                &f.host,
                Command::ModerateQuestion {
                    question: q(2),
                    decision: approve,
                },
            ),
            (&f.m2, Command::Upvote { question: q(1) }),
            (&f.m3, Command::Upvote { question: q(2) }),
            (&f.m2, Command::Upvote { question: q(2) }),
            (
                &f.host,
                Command::PinQuestion {
                    question: q(2),
                    pinned: true,
                },
            ),
            (
                &f.host,
                Command::MergeQuestion {
                    question: q(2),
                    into: q(1),
                },
            ),
            (
                &f.host,
                Command::MergeQuestion {
                    question: q(3),
                    into: q(1),
                },
            ),
            (&f.host, Command::MarkAnswered { question: q(1) }),
            (
                &f.host,
                Command::ForwardQuestion {
                    question: q(1),
                    to: f.respondent.id().clone(),
                },
            ),
            (
                &f.recorder,
                Command::Annotate {
                    text: "备注".into(),
                },
            ),
        ];
        for (who, command) in steps {
            now = now.plus(1_000);
            run(&mut room, now, who, command);
        }

        assert_eq!(room.talk.questions[&q(1)].question.upvotes, 2);
        let replayed = Room::replay("测试协商会", &record, &[]);
        assert_eq!(replayed.talk, room.talk);
        assert_eq!(replayed, room);
        for view in [View::Host, View::Member, View::Audience] {
            assert_eq!(
                replayed.snapshot(view, f.audience.id()),
                room.snapshot(view, f.audience.id())
            );
        }
    }
}
