//! Submitting a topic (议题): a resident, a member or staff gives a title, a text, an
//! area (街道/社区) and a category. A resident's or member's topic waits for moderation;
//! staff's is published at once. The author follows their topic from the start.

use super::text::{MAX_LONG, MAX_SHORT, clean};
use super::{
    Board, Cx, Event, EventBody, Moderation, Rejection, Stage, SubmitTopic, Topic, TopicId,
    TopicState, require_person,
};

impl Board {
    pub(crate) fn submit_topic(&mut self, cx: &mut Cx, c: &SubmitTopic) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        let title = clean("title", &c.title, MAX_SHORT, false)?;
        let text = clean("text", &c.text, MAX_LONG, true)?;
        let area = clean("area", &c.area, MAX_SHORT, false)?;
        let category = clean("category", &c.category, MAX_SHORT, false)?;
        let id = TopicId(self.topics.keys().next_back().map_or(1, |t| t.0 + 1));
        let staff = cx.actor.is_staff();
        let topic = Topic {
            id,
            title,
            text,
            area,
            category,
            author: cx.actor.identity(),
            author_name: cx.actor.name().to_owned(),
            submitted_at: cx.now,
            moderation: Moderation::Pending,
            stage: Stage::Collecting,
            supports: 0,
            merged_into: None,
            meeting: None,
            opinion: None,
        };
        self.emit(cx, EventBody::TopicSubmitted { topic });
        if staff {
            self.emit(cx, EventBody::TopicPublished { topic: id });
        }
        Ok(())
    }

    pub(crate) fn fold_topics(&mut self, event: &Event) {
        if let EventBody::TopicSubmitted { topic } = &event.body {
            let followers = [topic.author.clone()].into_iter().collect();
            self.topics.insert(
                topic.id,
                TopicState {
                    topic: topic.clone(),
                    supporters: Default::default(),
                    followers,
                    timeline: Vec::new(),
                    comments: Vec::new(),
                    outcomes: Vec::new(),
                },
            );
        }
    }
}
