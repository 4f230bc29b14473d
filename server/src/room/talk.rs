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
    ChatId, ChatMessage, Comment, CommentId, Decision, ErrorCode, Event, EventBody, Grant,
    ItemStatus, ModerationMode, ModerationStats, ParticipantId, Question, QuestionId, ReasonCount,
    RejectReason, View,
};

use super::text::{clean, matches_word_list, normalise_word};
use super::view::Shown;
use super::{Actor, Cx, Rejection, Room, reject};

/// What [`Room::moderate`] needs of a comment or a question.
pub(crate) trait Moderated: Clone {
    type Id: Copy;
    /// The item, or `not_found`.
    fn find(room: &Room, id: Self::Id) -> Result<&Self, Rejection>;
    /// Why it can no longer be decided, if it cannot.
    fn decided(&self, id: Self::Id) -> Option<String>;
    /// The item as sent, approved.
    fn approved(self) -> EventBody;
    fn rejected(id: Self::Id, reason: RejectReason) -> EventBody;
}

impl Moderated for Comment {
    type Id = CommentId;
    fn find(room: &Room, id: CommentId) -> Result<&Self, Rejection> {
        match room.talk.comments.get(&id) {
            Some(c) => Ok(c),
            None => reject(ErrorCode::NotFound, format!("no comment {}", id.0)),
        }
    }
    fn decided(&self, id: CommentId) -> Option<String> {
        (self.status != ItemStatus::Pending)
            .then(|| format!("comment {} was already moderated", id.0))
    }
    fn approved(self) -> EventBody {
        let comment = Comment {
            status: ItemStatus::Approved,
            ..self
        };
        EventBody::CommentApproved { comment }
    }
    fn rejected(comment: CommentId, reason: RejectReason) -> EventBody {
        EventBody::CommentRejected { comment, reason }
    }
}

impl Moderated for Question {
    type Id = QuestionId;
    fn find(room: &Room, id: QuestionId) -> Result<&Self, Rejection> {
        room.question(id)
    }
    fn decided(&self, id: QuestionId) -> Option<String> {
        (self.status != ItemStatus::Pending || self.merged_into.is_some())
            .then(|| format!("question {} was already moderated or merged", id.0))
    }
    fn approved(self) -> EventBody {
        let question = Question {
            status: ItemStatus::Approved,
            ..self
        };
        EventBody::QuestionApproved { question }
    }
    fn rejected(question: QuestionId, reason: RejectReason) -> EventBody {
        EventBody::QuestionRejected { question, reason }
    }
}

/// How many chat messages the room keeps (and a snapshot shows): the latest ones.
pub(crate) const CHAT_KEPT: usize = 200;
/// At most this many words in the word list.
const MAX_WORDS: usize = 1_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Talk {
    /// The latest [`CHAT_KEPT`] chat messages, oldest first.
    chat: Vec<ChatMessage>,
    /// Chat messages ever sent (the last chat id).
    chat_count: u32,
    comments: BTreeMap<CommentId, Comment>,
    pub(super) questions: BTreeMap<QuestionId, Asked>,
    /// Normalised (NFC, trimmed, lower case), without empties or duplicates.
    word_list: Vec<String>,
    stats: Stats,
}

/// A question and who backs it. `question.upvotes` is always `upvoters.len()`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Asked {
    pub(super) question: Question,
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
    /// Members' chat: unmoderated, never shown to the audience.
    pub(crate) fn send_chat(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        text: &str,
    ) -> Result<(), Rejection> {
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
        Ok(())
    }

    /// A public comment, moderated as the settings say.
    pub(crate) fn post_comment(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        text: &str,
    ) -> Result<(), Rejection> {
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
        Ok(())
    }

    /// The one rule of moderation, for comments and questions alike: a moderator decides
    /// an item still pending, once; approving publishes it as sent, rejecting keeps the reason.
    pub(crate) fn moderate<T: Moderated>(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        id: T::Id,
        decision: &Decision,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        let found = T::find(self, id)?;
        if let Some(why) = found.decided(id) {
            return reject(ErrorCode::InvalidState, why);
        }
        let body = match decision {
            Decision::Approve => found.clone().approved(),
            Decision::Reject { reason } => T::rejected(id, *reason),
        };
        self.emit(cx, body);
        Ok(())
    }

    /// A question, moderated as the settings say.
    pub(crate) fn ask_question(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        text: &str,
    ) -> Result<(), Rejection> {
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
        Ok(())
    }

    /// One upvote per participant.
    pub(crate) fn upvote(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        question: QuestionId,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Ask)?;
        self.question_open(question)?;
        let backed = self
            .talk
            .questions
            .get(&question)
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
                question,
                by: actor.id().clone(),
            },
        );
        Ok(())
    }

    pub(crate) fn mark_answered(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        question: QuestionId,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        if self.question_open(question)?.answered {
            return Ok(());
        }
        self.emit(cx, EventBody::QuestionAnswered { question });
        Ok(())
    }

    /// Forward a question to a respondent (or anyone known to the room).
    pub(crate) fn forward_question(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        question: QuestionId,
        to: &ParticipantId,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        let found = self.question_open(question)?;
        if self.roster.get(to).is_none() {
            return reject(ErrorCode::NotFound, format!("no participant {}", to.0));
        }
        if found.forwarded_to.as_ref() == Some(to) {
            return Ok(());
        }
        self.emit(
            cx,
            EventBody::QuestionForwarded {
                question,
                to: to.clone(),
            },
        );
        Ok(())
    }

    pub(crate) fn pin_question(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        question: QuestionId,
        pinned: bool,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        if self.question_open(question)?.pinned == pinned {
            return Ok(());
        }
        self.emit(cx, EventBody::QuestionPinned { question, pinned });
        Ok(())
    }

    /// Merge a duplicate into another question, which takes its upvoters.
    pub(crate) fn merge_question(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        question: QuestionId,
        into: QuestionId,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        let source = self.question(question)?;
        self.question(into)?;
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
        self.question_open(into)?;
        let unpin = source.pinned;
        if unpin {
            // A duplicate does not stay on top; say so in the record.
            self.emit(
                cx,
                EventBody::QuestionPinned {
                    question,
                    pinned: false,
                },
            );
        }
        self.emit(cx, EventBody::QuestionMerged { question, into });
        Ok(())
    }

    /// The words that hold an item back for a moderator under `auto` moderation.
    pub(crate) fn set_word_list(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        words: &[String],
    ) -> Result<(), Rejection> {
        actor.require(Grant::Moderate)?;
        let words = word_list(words)?;
        if words == self.talk.word_list {
            return Ok(());
        }
        self.emit(cx, EventBody::WordListSet { words });
        Ok(())
    }

    pub(crate) fn annotate(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        text: &str,
    ) -> Result<(), Rejection> {
        actor.require(Grant::Annotate)?;
        let text = clean(text)?;
        self.emit(cx, EventBody::Annotated { text });
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
