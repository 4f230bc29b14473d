//! Submitting a topic (议题): a resident, a member or staff gives a title, a text, an
//! area (街道/社区) and a category. A resident's or member's topic waits for moderation;
//! staff's is published at once. The author follows their topic from the start. A studio
//! message that staff make a topic goes through the same [`Board::create_topic`].

use super::text::{MAX_LONG, MAX_SHORT, clean};
use super::{
    Board, Cx, Event, EventBody, Identity, MessageId, Moderation, Rejection, Stage, SubmitTopic,
    Topic, TopicId, TopicState, require_person,
};

impl Board {
    pub(crate) fn submit_topic(&mut self, cx: &mut Cx, c: &SubmitTopic) -> Result<(), Rejection> {
        require_person(cx.actor)?;
        let author = (cx.actor.identity(), cx.actor.name().to_owned());
        let publish = cx.actor.is_staff();
        self.create_topic(cx, c, author, publish, None)?;
        Ok(())
    }

    /// The one path that makes a topic: check its fields, record it for `author`, and
    /// publish it at once when `publish` (staff's topics, and a studio message made a
    /// topic by staff). Every check comes before the first event.
    pub(crate) fn create_topic(
        &mut self,
        cx: &mut Cx,
        c: &SubmitTopic,
        (author, author_name): (Identity, String),
        publish: bool,
        from_message: Option<MessageId>,
    ) -> Result<TopicId, Rejection> {
        let title = clean("title", &c.title, MAX_SHORT, false)?;
        let text = clean("text", &c.text, MAX_LONG, true)?;
        let area = clean("area", &c.area, MAX_SHORT, false)?;
        let category = clean("category", &c.category, MAX_SHORT, false)?;
        let id = TopicId(self.topics.keys().next_back().map_or(1, |t| t.0 + 1));
        let topic = Topic {
            id,
            title,
            text,
            area,
            category,
            author,
            author_name,
            submitted_at: cx.now,
            moderation: Moderation::Pending,
            stage: Stage::Collecting,
            supports: 0,
            merged_into: None,
            meeting: None,
            opinion: None,
            from_message,
        };
        self.emit(cx, EventBody::TopicSubmitted { topic });
        if publish {
            self.emit(cx, EventBody::TopicPublished { topic: id });
        }
        Ok(id)
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
            if let Some(m) = topic.from_message.and_then(|m| self.messages.get_mut(&m)) {
                m.topic = Some(topic.id);
            }
        }
    }
}
