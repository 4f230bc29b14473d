//! Members' studios (委员网上工作室): a public page per roster member, opened by staff
//! (name, sector, photo, topics of interest, reply deadline). Residents and members leave
//! messages (留言) there, pre-moderated by staff like comments; the member (the identity
//! `m-<roster id>`) or staff reply, publicly (shown under the message) or privately (seen
//! by the sender and staff only). The reply is due a number of days after publication; a
//! published message without a reply after that is overdue ([`Board::overdue`]). Staff
//! may make a published message a topic, through the one path that makes topics, or file
//! it as a social-conditions report (社情民意信息), once. The sender is told when the
//! message is published, rejected, replied to or filed as a report.

use serde::{Deserialize, Serialize};
use yishi_protocol::Millis;

use super::text::{MAX_LONG, MAX_SHORT, clean};
use super::{
    Actor, Board, Cx, DEFAULT_DEADLINE_DAYS, Decision, ErrorCode, Event, EventBody,
    MAX_DEADLINE_DAYS, MAX_INTERESTS, MemberId, Message, MessageId, MessageState, MessageToReport,
    MessageToTopic, ModerateMessage, Moderation, Notice, NoticeKind, OpenStudio, PostMessage,
    Rejection, Reply, ReplyMessage, ReportId, ReportState, SocialReport, Studio, SubmitTopic,
    TopicId, reject, require_staff,
};

/// One day in milliseconds.
const DAY_MS: u64 = 86_400_000;
/// The longest photo address.
const MAX_PHOTO: usize = 500;
/// Characters of a message's text that name it in a notice when it has no title.
const NOTICE_TITLE_CHARS: usize = 20;

/// A studio in the list of studios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudioSummary {
    pub member: MemberId,
    pub name: String,
    pub sector: String,
    pub photo: Option<String>,
    pub interests: Vec<String>,
    /// Published messages.
    pub messages: u32,
    /// Published messages with at least one reply.
    pub replied: u32,
}

/// A published message as the public sees it: public replies only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicMessage {
    pub id: MessageId,
    pub sender_name: String,
    pub title: Option<String>,
    pub text: String,
    /// When it was published.
    pub at: Millis,
    pub replies: Vec<Reply>,
    /// The topic staff made of it.
    pub topic: Option<TopicId>,
    /// Whether staff filed it as a 社情民意 item.
    pub reported: bool,
}

/// A studio's public page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudioPage {
    pub member: MemberId,
    pub name: String,
    pub sector: String,
    pub photo: Option<String>,
    pub interests: Vec<String>,
    pub deadline_days: u32,
    /// Published messages, newest first.
    pub messages: Vec<PublicMessage>,
}

/// A message with everything about it, private replies included: for its sender, the
/// member and staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: MessageId,
    pub member: MemberId,
    pub studio_name: String,
    pub sender_name: String,
    pub title: Option<String>,
    pub text: String,
    pub at: Millis,
    pub moderation: Moderation,
    pub published_at: Option<Millis>,
    pub due: Option<Millis>,
    pub replies: Vec<Reply>,
    pub topic: Option<TopicId>,
    /// The 社情民意 item staff filed from it.
    pub report: Option<ReportId>,
}

/// A 社情民意 item for staff, with the message it came from (and so its sender).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportView {
    pub id: ReportId,
    pub title: String,
    pub text: String,
    pub at: Millis,
    /// The staff member who filed it.
    pub by_name: String,
    pub message: MessageView,
}

impl MessageState {
    fn is_public(&self) -> bool {
        self.moderation == Moderation::Published
    }

    /// Published, without a reply, and past its deadline at `now`.
    fn is_overdue(&self, now: Millis) -> bool {
        self.is_public() && self.replies.is_empty() && self.due.is_some_and(|due| now > due)
    }
}

/// `text` cleaned when it has anything but spaces; `None` when it is empty.
fn optional(what: &str, text: Option<&str>, max: usize) -> Result<Option<String>, Rejection> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => clean(what, t, max, false).map(Some),
        None => Ok(None),
    }
}

/// A photo's address: `https://…`, `http://…` or a path on this server, without spaces
/// or characters that could leave an HTML attribute.
fn photo(text: Option<&str>) -> Result<Option<String>, Rejection> {
    let Some(url) = optional("photo address", text, MAX_PHOTO)? else {
        return Ok(None);
    };
    let scheme = url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"));
    if !scheme
        || url
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
    {
        return reject(
            ErrorCode::InvalidArgument,
            "the photo is an https:// address or a path on this server",
        );
    }
    Ok(Some(url))
}

impl Board {
    pub(crate) fn open_studio(&mut self, cx: &mut Cx, c: &OpenStudio) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        if c.member.0 <= 0 {
            return reject(ErrorCode::InvalidArgument, "no such roster member");
        }
        let name = clean("name", &c.name, MAX_SHORT, false)?;
        let sector = optional("sector", Some(&c.sector), MAX_SHORT)?.unwrap_or_default();
        let photo = photo(c.photo.as_deref())?;
        if c.interests.len() > MAX_INTERESTS {
            return reject(
                ErrorCode::InvalidArgument,
                format!("at most {MAX_INTERESTS} topics of interest"),
            );
        }
        let mut interests = Vec::new();
        for i in &c.interests {
            let i = clean("topic of interest", i, MAX_SHORT, false)?;
            if !interests.contains(&i) {
                interests.push(i);
            }
        }
        let deadline_days = c.deadline_days.unwrap_or(DEFAULT_DEADLINE_DAYS);
        if !(1..=MAX_DEADLINE_DAYS).contains(&deadline_days) {
            return reject(
                ErrorCode::InvalidArgument,
                format!("the reply deadline is 1 to {MAX_DEADLINE_DAYS} days"),
            );
        }
        let studio = Studio {
            member: c.member,
            name,
            sector,
            photo,
            interests,
            deadline_days,
        };
        self.emit(cx, EventBody::StudioOpened { studio });
        Ok(())
    }

    pub(crate) fn post_message(&mut self, cx: &mut Cx, c: &PostMessage) -> Result<(), Rejection> {
        if !matches!(cx.actor, Actor::Resident { .. } | Actor::Member { .. }) {
            return reject(
                ErrorCode::Forbidden,
                "messages come from residents and members",
            );
        }
        if !self.studios.contains_key(&c.member) {
            return reject(ErrorCode::NotFound, format!("no studio {}", c.member.0));
        }
        let title = optional("title", c.title.as_deref(), MAX_SHORT)?;
        let text = clean("message", &c.text, MAX_LONG, true)?;
        let message = Message {
            id: MessageId(self.messages.keys().next_back().map_or(1, |m| m.0 + 1)),
            member: c.member,
            sender: cx.actor.identity(),
            sender_name: cx.actor.name().to_owned(),
            title,
            text,
            at: cx.now,
        };
        self.emit(cx, EventBody::MessagePosted { message });
        Ok(())
    }

    fn message(&self, id: MessageId) -> Result<&MessageState, Rejection> {
        match self.messages.get(&id) {
            Some(m) => Ok(m),
            None => reject(ErrorCode::NotFound, format!("no message {}", id.0)),
        }
    }

    /// A published message: one that can be replied to or made a topic.
    fn published_message(&self, id: MessageId) -> Result<&MessageState, Rejection> {
        let m = self.message(id)?;
        if !m.is_public() {
            return reject(
                ErrorCode::InvalidState,
                format!("message {} is not published", id.0),
            );
        }
        Ok(m)
    }

    pub(crate) fn moderate_message(
        &mut self,
        cx: &mut Cx,
        c: &ModerateMessage,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let m = self.message(c.message)?;
        if m.moderation != Moderation::Pending {
            return reject(
                ErrorCode::InvalidState,
                format!("message {} was moderated already", c.message.0),
            );
        }
        let body = match &c.decision {
            Decision::Publish => {
                let days = self
                    .studios
                    .get(&m.message.member)
                    .map_or(DEFAULT_DEADLINE_DAYS, |s| s.deadline_days);
                EventBody::MessagePublished {
                    message: c.message,
                    due: cx.now.plus(u64::from(days) * DAY_MS),
                }
            }
            Decision::Reject { reason } => EventBody::MessageRejected {
                message: c.message,
                reason: clean("reason", reason, MAX_SHORT, false)?,
            },
        };
        self.emit(cx, body);
        Ok(())
    }

    pub(crate) fn reply_message(&mut self, cx: &mut Cx, c: &ReplyMessage) -> Result<(), Rejection> {
        let m = self.message(c.message)?;
        let own = matches!(cx.actor, Actor::Member { identity, .. } if *identity == m.message.member.identity());
        if !own && !cx.actor.is_staff() {
            return reject(
                ErrorCode::Forbidden,
                "only the studio's member or staff reply",
            );
        }
        self.published_message(c.message)?;
        let text = clean("reply", &c.text, MAX_LONG, true)?;
        let reply = Reply {
            at: cx.now,
            by_name: cx.actor.name().to_owned(),
            by_staff: cx.actor.is_staff(),
            public: c.public,
            text,
        };
        self.emit(
            cx,
            EventBody::MessageReplied {
                message: c.message,
                reply,
            },
        );
        Ok(())
    }

    pub(crate) fn message_to_topic(
        &mut self,
        cx: &mut Cx,
        c: &MessageToTopic,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let m = self.published_message(c.message)?;
        if let Some(topic) = m.topic {
            return reject(
                ErrorCode::InvalidState,
                format!("message {} is topic {} already", c.message.0, topic.0),
            );
        }
        let submit = SubmitTopic {
            title: c
                .title
                .clone()
                .or_else(|| m.message.title.clone())
                .unwrap_or_default(),
            text: m.message.text.clone(),
            area: c.area.clone(),
            category: c.category.clone(),
        };
        let author = (m.message.sender.clone(), m.message.sender_name.clone());
        self.create_topic(cx, &submit, author, true, Some(c.message))?;
        Ok(())
    }

    pub(crate) fn message_to_report(
        &mut self,
        cx: &mut Cx,
        c: &MessageToReport,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let m = self.published_message(c.message)?;
        if let Some(report) = m.report {
            return reject(
                ErrorCode::InvalidState,
                format!(
                    "message {} was filed as report {} already",
                    c.message.0, report.0
                ),
            );
        }
        let title = clean("title", &c.title, MAX_SHORT, false)?;
        let text = match c.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => clean("text", t, MAX_LONG, true)?,
            None => m.message.text.clone(),
        };
        let report = SocialReport {
            id: ReportId(self.reports.keys().next_back().map_or(1, |r| r.0 + 1)),
            message: c.message,
            title,
            text,
        };
        self.emit(cx, EventBody::ReportFiled { report });
        Ok(())
    }

    pub(crate) fn fold_studio(&mut self, event: &Event) {
        let (id, kind, text) = match &event.body {
            EventBody::StudioOpened { studio } => {
                self.studios.insert(studio.member, studio.clone());
                return;
            }
            EventBody::MessagePosted { message } => {
                self.messages.insert(
                    message.id,
                    MessageState {
                        message: message.clone(),
                        moderation: Moderation::Pending,
                        published_at: None,
                        due: None,
                        replies: Vec::new(),
                        topic: None,
                        report: None,
                    },
                );
                return;
            }
            EventBody::MessagePublished { message, due } => {
                let Some(m) = self.messages.get_mut(message) else {
                    return;
                };
                m.moderation = Moderation::Published;
                m.published_at = Some(event.at);
                m.due = Some(*due);
                (*message, NoticeKind::MessagePublished, String::new())
            }
            EventBody::MessageRejected { message, reason } => {
                let Some(m) = self.messages.get_mut(message) else {
                    return;
                };
                m.moderation = Moderation::Rejected {
                    reason: reason.clone(),
                };
                (*message, NoticeKind::MessageRejected, reason.clone())
            }
            EventBody::MessageReplied { message, reply } => {
                let Some(m) = self.messages.get_mut(message) else {
                    return;
                };
                m.replies.push(reply.clone());
                (*message, NoticeKind::Replied, reply.text.clone())
            }
            EventBody::ReportFiled { report } => {
                let Some(m) = self.messages.get_mut(&report.message) else {
                    return;
                };
                m.report = Some(report.id);
                self.reports.insert(
                    report.id,
                    ReportState {
                        report: report.clone(),
                        at: event.at,
                        by_name: event.actor.name().to_owned(),
                    },
                );
                (
                    report.message,
                    NoticeKind::ReportFiled,
                    report.title.clone(),
                )
            }
            _ => return,
        };
        let Some(m) = self.messages.get(&id) else {
            return;
        };
        let title = m.message.title.clone().unwrap_or_else(|| {
            m.message
                .text
                .chars()
                .take(NOTICE_TITLE_CHARS)
                .collect::<String>()
        });
        let notice = Notice {
            seq: event.seq,
            at: event.at,
            topic: None,
            topic_title: title,
            studio: Some(m.message.member),
            message: Some(id),
            kind,
            text,
        };
        let sender = m.message.sender.clone();
        self.deliver(notice, [sender]);
    }

    // ----- views -----

    /// The studios, in the roster's order.
    pub fn studios(&self) -> Vec<StudioSummary> {
        self.studios
            .values()
            .map(|s| {
                let published = || {
                    self.messages
                        .values()
                        .filter(move |m| m.message.member == s.member && m.is_public())
                };
                StudioSummary {
                    member: s.member,
                    name: s.name.clone(),
                    sector: s.sector.clone(),
                    photo: s.photo.clone(),
                    interests: s.interests.clone(),
                    messages: published().count() as u32,
                    replied: published().filter(|m| !m.replies.is_empty()).count() as u32,
                }
            })
            .collect()
    }

    /// A studio's public page: its published messages, newest first, with their public
    /// replies; `None` for a member without a studio.
    pub fn studio_page(&self, member: MemberId) -> Option<StudioPage> {
        let s = self.studios.get(&member)?;
        let messages = self
            .messages
            .values()
            .rev()
            .filter(|m| m.message.member == member && m.is_public())
            .map(|m| PublicMessage {
                id: m.message.id,
                sender_name: m.message.sender_name.clone(),
                title: m.message.title.clone(),
                text: m.message.text.clone(),
                at: m.published_at.unwrap_or(m.message.at),
                replies: m.replies.iter().filter(|r| r.public).cloned().collect(),
                topic: m.topic,
                reported: m.report.is_some(),
            })
            .collect();
        Some(StudioPage {
            member,
            name: s.name.clone(),
            sector: s.sector.clone(),
            photo: s.photo.clone(),
            interests: s.interests.clone(),
            deadline_days: s.deadline_days,
            messages,
        })
    }

    fn message_view(&self, m: &MessageState) -> MessageView {
        MessageView {
            id: m.message.id,
            member: m.message.member,
            studio_name: self
                .studios
                .get(&m.message.member)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            sender_name: m.message.sender_name.clone(),
            title: m.message.title.clone(),
            text: m.message.text.clone(),
            at: m.message.at,
            moderation: m.moderation.clone(),
            published_at: m.published_at,
            due: m.due,
            replies: m.replies.clone(),
            topic: m.topic,
            report: m.report,
        }
    }

    /// The 社情民意 items, newest first, each with its message (staff).
    pub fn reports(&self) -> Vec<ReportView> {
        self.reports
            .values()
            .rev()
            .filter_map(|r| {
                let m = self.messages.get(&r.report.message)?;
                Some(ReportView {
                    id: r.report.id,
                    title: r.report.title.clone(),
                    text: r.report.text.clone(),
                    at: r.at,
                    by_name: r.by_name.clone(),
                    message: self.message_view(m),
                })
            })
            .collect()
    }

    /// What `who` left in `member`'s studio, newest first, whatever its state, with every
    /// reply (private ones included): the sender's own view.
    pub fn sent_messages(&self, member: MemberId, who: &super::Identity) -> Vec<MessageView> {
        self.messages
            .values()
            .rev()
            .filter(|m| m.message.member == member && &m.message.sender == who)
            .map(|m| self.message_view(m))
            .collect()
    }

    /// The member's inbox: the published messages of their studio, newest first, with
    /// every reply.
    pub fn inbox(&self, member: MemberId) -> Vec<MessageView> {
        self.messages
            .values()
            .rev()
            .filter(|m| m.message.member == member && m.is_public())
            .map(|m| self.message_view(m))
            .collect()
    }

    /// Studio messages waiting for moderation, oldest first (staff).
    pub fn pending_messages(&self) -> Vec<MessageView> {
        self.messages
            .values()
            .filter(|m| m.moderation == Moderation::Pending)
            .map(|m| self.message_view(m))
            .collect()
    }

    /// Published messages without a reply whose deadline passed before `now`, the
    /// longest overdue first: for staff (all studios) and for a member (filter by
    /// `member`).
    pub fn overdue(&self, now: Millis) -> Vec<MessageView> {
        let mut late: Vec<&MessageState> = self
            .messages
            .values()
            .filter(|m| m.is_overdue(now))
            .collect();
        late.sort_by_key(|m| (m.due, m.message.id));
        late.into_iter().map(|m| self.message_view(m)).collect()
    }
}
