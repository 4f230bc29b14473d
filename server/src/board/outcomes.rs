//! Outcomes (成果) of a consultation opinion: a responsible unit (承办单位), a status
//! with progress in percent, dated timeline entries, due and review dates (回头看), and
//! parent/child outcomes, a parent's progress being its children's rolled up (their
//! mean, rounded down). Only staff create and report on them; each report is told to the
//! topic's followers.

use super::text::{MAX_LONG, MAX_SHORT, clean};
use super::{
    Board, CreateOutcome, Cx, Day, ErrorCode, Event, EventBody, NoticeKind, Outcome, OutcomeId,
    OutcomeState, OutcomeStatus, Rejection, ReportProgress, ReviewOutcome, TimelineEntry, reject,
    require_staff,
};

impl Board {
    pub(crate) fn create_outcome(
        &mut self,
        cx: &mut Cx,
        c: &CreateOutcome,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let topic = self.live_topic(c.topic)?;
        if topic.topic.opinion.is_none() {
            return reject(
                ErrorCode::InvalidState,
                "an outcome is created from a recorded consultation opinion",
            );
        }
        if let Some(parent) = c.parent
            && self.outcome(parent)?.outcome.topic != c.topic
        {
            return reject(
                ErrorCode::InvalidArgument,
                "a parent outcome belongs to the same topic",
            );
        }
        for day in [&c.due, &c.review].into_iter().flatten() {
            if !day.is_valid() {
                return reject(
                    ErrorCode::InvalidArgument,
                    format!("{:?} is not a date written YYYY-MM-DD", day.0),
                );
            }
        }
        let outcome = Outcome {
            id: OutcomeId(self.outcomes.keys().next_back().map_or(1, |o| o.0 + 1)),
            topic: c.topic,
            title: clean("title", &c.title, MAX_SHORT, false)?,
            unit: clean("unit", &c.unit, MAX_SHORT, false)?,
            due: c.due.clone(),
            review: c.review.clone(),
            parent: c.parent,
            status: OutcomeStatus::Assigned,
            percent: 0,
            reviewed: None,
            created_at: cx.now,
        };
        self.emit(cx, EventBody::OutcomeCreated { outcome });
        Ok(())
    }

    pub(crate) fn report_progress(
        &mut self,
        cx: &mut Cx,
        c: &ReportProgress,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let o = self.outcome(c.outcome)?;
        if c.percent.is_some() && !o.children.is_empty() {
            return reject(
                ErrorCode::InvalidState,
                "this outcome's progress is rolled up from its children",
            );
        }
        let percent = c.percent.unwrap_or(o.outcome.percent);
        if percent > 100 {
            return reject(ErrorCode::InvalidArgument, "progress is 0 to 100 percent");
        }
        let status = c.status.unwrap_or(o.outcome.status);
        if status == OutcomeStatus::Done && o.children.is_empty() && percent != 100 {
            return reject(
                ErrorCode::InvalidArgument,
                "a done outcome is at 100 percent",
            );
        }
        let note = clean("note", &c.note, MAX_LONG, true)?;
        self.emit(
            cx,
            EventBody::ProgressReported {
                outcome: c.outcome,
                percent,
                status,
                note,
            },
        );
        Ok(())
    }

    pub(crate) fn review_outcome(
        &mut self,
        cx: &mut Cx,
        c: &ReviewOutcome,
    ) -> Result<(), Rejection> {
        require_staff(cx.actor)?;
        let o = self.outcome(c.outcome)?;
        if o.outcome.review.is_none() {
            return reject(ErrorCode::InvalidState, "this outcome has no review date");
        }
        let note = clean("note", &c.note, MAX_LONG, true)?;
        self.emit(
            cx,
            EventBody::OutcomeReviewed {
                outcome: c.outcome,
                day: Day::of(cx.now),
                note,
            },
        );
        Ok(())
    }

    /// An outcome's progress: its own, or its children's rolled up.
    pub fn progress(&self, id: OutcomeId) -> u8 {
        let Some(o) = self.outcomes.get(&id) else {
            return 0;
        };
        if o.children.is_empty() {
            return o.outcome.percent;
        }
        let sum: u32 = o
            .children
            .iter()
            .map(|c| u32::from(self.progress(*c)))
            .sum();
        (sum / o.children.len() as u32) as u8
    }

    pub(crate) fn fold_outcomes(&mut self, event: &Event) {
        let (outcome, kind, text) = match &event.body {
            EventBody::OutcomeCreated { outcome } => {
                if let Some(parent) = outcome.parent.and_then(|p| self.outcomes.get_mut(&p)) {
                    parent.children.push(outcome.id);
                }
                if let Some(t) = self.topics.get_mut(&outcome.topic) {
                    t.outcomes.push(outcome.id);
                }
                let text = format!("{} ({})", outcome.title, outcome.unit);
                self.outcomes.insert(
                    outcome.id,
                    OutcomeState {
                        outcome: outcome.clone(),
                        children: Vec::new(),
                        timeline: Vec::new(),
                    },
                );
                (outcome.id, NoticeKind::OutcomeCreated, text)
            }
            EventBody::ProgressReported {
                outcome,
                percent,
                status,
                note,
            } => {
                if let Some(o) = self.outcomes.get_mut(outcome) {
                    o.outcome.percent = *percent;
                    o.outcome.status = *status;
                }
                (*outcome, NoticeKind::Progress, note.clone())
            }
            EventBody::OutcomeReviewed { outcome, day, note } => {
                if let Some(o) = self.outcomes.get_mut(outcome) {
                    o.outcome.reviewed = Some(day.clone());
                }
                (*outcome, NoticeKind::Reviewed, note.clone())
            }
            _ => return,
        };
        let Some(o) = self.outcomes.get_mut(&outcome) else {
            return;
        };
        o.timeline
            .push(TimelineEntry::new(event, kind, text.clone()));
        let topic = o.outcome.topic;
        let followers = self.followers(topic);
        self.notify(event, topic, kind, text, followers);
    }
}
