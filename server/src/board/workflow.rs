//! The workflow (流程) of a published topic: 征集中 → 遴选 → 已协商 → 办理中 → 已办结, one
//! step at a time, each with a dated public note by staff told to the followers. Staff
//! set the support threshold of the shortlist and select topics into a consultation (an
//! agenda item per topic); the consultation's chair or recorder, or staff, record its
//! opinion (协商意见) on the topic.

use super::text::{MAX_LONG, clean};
use super::{
    Actor, AdvanceStage, Board, Cx, ErrorCode, Event, EventBody, NoticeKind, RecordOpinion,
    Rejection, SelectIntoMeeting, SetThreshold, Stage, TimelineEntry, reject, require_staff,
};

impl Board {
    pub(crate) fn advance_stage(&mut self, cx: &mut Cx, c: &AdvanceStage) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let from = self.live_topic(c.topic)?.topic.stage;
        if from.next() != Some(c.to) {
            return reject(
                ErrorCode::InvalidState,
                format!(
                    "topic {} is {}: it can only move to the next stage",
                    c.topic.0,
                    from.as_str()
                ),
            );
        }
        let note = clean("note", &c.note, MAX_LONG, true)?;
        self.emit(
            cx,
            EventBody::StageAdvanced {
                topic: c.topic,
                from,
                to: c.to,
                note,
            },
        );
        Ok(())
    }

    pub(crate) fn set_threshold(&mut self, cx: &mut Cx, c: &SetThreshold) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        if c.supports == 0 {
            return reject(
                ErrorCode::InvalidArgument,
                "the threshold is at least 1 support",
            );
        }
        self.emit(
            cx,
            EventBody::ThresholdSet {
                supports: c.supports,
            },
        );
        Ok(())
    }

    pub(crate) fn select_into_meeting(
        &mut self,
        cx: &mut Cx,
        c: &SelectIntoMeeting,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let topic = self.live_topic(c.topic)?;
        if topic.topic.stage > Stage::Selecting {
            return reject(
                ErrorCode::InvalidState,
                "only a topic still collecting or being selected can go to a consultation",
            );
        }
        if let Some(meeting) = &topic.topic.meeting {
            return reject(
                ErrorCode::InvalidState,
                format!("topic {} is on the agenda of {meeting} already", c.topic.0),
            );
        }
        let meeting = c.meeting.trim();
        if meeting.is_empty()
            || meeting.len() > 64
            || !meeting
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return reject(
                ErrorCode::InvalidArgument,
                "a meeting is named by its room id",
            );
        }
        self.emit(
            cx,
            EventBody::SelectedIntoMeeting {
                topic: c.topic,
                meeting: meeting.to_owned(),
            },
        );
        Ok(())
    }

    pub(crate) fn record_opinion(
        &mut self,
        cx: &mut Cx,
        c: &RecordOpinion,
    ) -> Result<(), Rejection> {
        let topic = self.live_topic(c.topic)?;
        let Some(meeting) = &topic.topic.meeting else {
            return reject(
                ErrorCode::InvalidState,
                format!("topic {} was not selected into a consultation", c.topic.0),
            );
        };
        match cx.actor {
            Actor::Staff { .. } => {}
            Actor::Presiding { meeting: m, .. } if m == meeting => {}
            _ => {
                return reject(
                    ErrorCode::Forbidden,
                    "only staff or the consultation's chair or recorder record its opinion",
                );
            }
        }
        let text = clean("opinion", &c.text, MAX_LONG, true)?;
        self.emit(
            cx,
            EventBody::OpinionRecorded {
                topic: c.topic,
                text,
            },
        );
        Ok(())
    }

    pub(crate) fn fold_workflow(&mut self, event: &Event) {
        let (id, kind, text) = match &event.body {
            EventBody::ThresholdSet { supports } => {
                self.threshold = *supports;
                return;
            }
            EventBody::StageAdvanced {
                topic, to, note, ..
            } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.topic.stage = *to;
                }
                (*topic, NoticeKind::StageAdvanced, note.clone())
            }
            EventBody::SelectedIntoMeeting { topic, meeting } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.topic.meeting = Some(meeting.clone());
                }
                (*topic, NoticeKind::StageAdvanced, String::new())
            }
            EventBody::OpinionRecorded { topic, text } => {
                if let Some(t) = self.topics.get_mut(topic) {
                    t.topic.opinion = Some(text.clone());
                }
                (*topic, NoticeKind::Opinion, text.clone())
            }
            _ => return,
        };
        if let Some(t) = self.topics.get_mut(&id) {
            t.timeline
                .push(TimelineEntry::new(event, kind, text.clone()));
        }
        // Selection is on the timeline; the followers hear of it with the stage change.
        if !matches!(event.body, EventBody::SelectedIntoMeeting { .. }) {
            let followers = self.followers(id);
            self.notify(event, id, kind, text, followers);
        }
    }
}
