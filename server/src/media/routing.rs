//! Which media goes where: pure rules, no I/O and no WebRTC.
//!
//! Members receive a track per publisher (the grid), with audio only from those heard,
//! and a track per shared screen. The audience receives the stage: one video track,
//! whose source is the first heard participant who sends video (the floor holder before
//! the hosts), a second video track with the first heard participant's shared screen or
//! slides (a lecture), and a few audio slots carrying those heard, each kept by its
//! speaker while they stay heard so that nobody's voice jumps between tracks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use yishi_protocol::{MediaKind, ParticipantId};

/// How many voices the audience hears at once (open discussion can have more heard;
/// the floor holder and the hosts come first).
pub const AUDIENCE_AUDIO_SLOTS: usize = 3;

/// Whose media an outgoing track carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One publisher's track of this kind (members' grid): camera and microphone.
    Participant(ParticipantId),
    /// One publisher's shared screen (a second video track), for members.
    Screen(ParticipantId),
    /// The stage video.
    Stage,
    /// The stage's shared screen or slides.
    StageScreen,
    /// One of the audience's audio slots.
    Slot(usize),
}

impl Source {
    /// Whether the track carries a shared screen rather than a camera.
    pub fn is_screen(&self) -> bool {
        matches!(self, Source::Screen(_) | Source::StageScreen)
    }
}

/// A room's routing, recomputed when the floor or the publishers change.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Whose audio is forwarded, in the room's order (holder, hosts, others).
    pub heard: Vec<ParticipantId>,
    /// Whose video is on the stage.
    pub stage: Option<ParticipantId>,
    /// Whose shared screen is on the stage: the first heard who shares one.
    pub screen: Option<ParticipantId>,
    /// Who each audience audio slot carries.
    pub slots: [Option<ParticipantId>; AUDIENCE_AUDIO_SLOTS],
}

/// What changed on the stage in an update: a new source there needs a key frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageChange {
    pub camera: bool,
    pub screen: bool,
}

impl Routing {
    /// Recompute the stage and the slots for `heard`, given who sends what (`sends`: a
    /// camera or a microphone; `shares`: a screen). Says what changed on the stage.
    pub fn update(
        &mut self,
        heard: Vec<ParticipantId>,
        sends: impl Fn(&ParticipantId, MediaKind) -> bool,
        shares: impl Fn(&ParticipantId) -> bool,
    ) -> StageChange {
        let stage = heard.iter().find(|p| sends(p, MediaKind::Video)).cloned();
        let screen = heard.iter().find(|p| shares(p)).cloned();
        let voices: Vec<&ParticipantId> = heard
            .iter()
            .filter(|p| sends(p, MediaKind::Audio))
            .take(AUDIENCE_AUDIO_SLOTS)
            .collect();
        let mut slots: [Option<ParticipantId>; AUDIENCE_AUDIO_SLOTS] = Default::default();
        for (slot, old) in slots.iter_mut().zip(&self.slots) {
            if old.as_ref().is_some_and(|o| voices.contains(&o)) {
                slot.clone_from(old);
            }
        }
        for voice in voices {
            if slots.iter().any(|s| s.as_ref() == Some(voice)) {
                continue;
            }
            if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
                *free = Some(voice.clone());
            }
        }
        let change = StageChange {
            camera: stage != self.stage,
            screen: screen != self.screen,
        };
        *self = Routing {
            heard,
            stage,
            screen,
            slots,
        };
        change
    }

    pub fn is_heard(&self, who: &ParticipantId) -> bool {
        self.heard.contains(who)
    }

    /// Whether a track with this source carries `who`'s media of `kind` now; `screen`
    /// says the media is a shared screen rather than a camera.
    pub fn feeds(
        &self,
        source: &Source,
        kind: MediaKind,
        who: &ParticipantId,
        screen: bool,
    ) -> bool {
        if kind == MediaKind::Audio && !self.is_heard(who) {
            return false;
        }
        let video = kind == MediaKind::Video;
        match source {
            Source::Participant(p) => p == who && !screen,
            Source::Screen(p) => video && screen && p == who,
            Source::Stage => video && !screen && self.stage.as_ref() == Some(who),
            Source::StageScreen => video && screen && self.screen.as_ref() == Some(who),
            Source::Slot(i) => {
                kind == MediaKind::Audio && self.slots.get(*i).and_then(Option::as_ref) == Some(who)
            }
        }
    }

    /// Who a track with this source carries now, if anyone.
    pub fn who(&self, source: &Source) -> Option<ParticipantId> {
        match source {
            Source::Participant(p) | Source::Screen(p) => Some(p.clone()),
            Source::Stage => self.stage.clone(),
            Source::StageScreen => self.screen.clone(),
            Source::Slot(i) => self.slots.get(*i).cloned().flatten(),
        }
    }
}

/// Simulcast: which layer of a publisher's video a track forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Low,
    High,
}

impl Routing {
    /// The stage, and a member's track of whoever is on the stage, get the high layer;
    /// the rest of the grid the low one (a shared screen comes in one layer: High).
    pub fn layer(&self, source: &Source) -> Layer {
        match source {
            Source::Participant(p) if self.stage.as_ref() != Some(p) => Layer::Low,
            _ => Layer::High,
        }
    }
}

/// The index of the simulcast layer to forward among `rids`, by their usual names
/// (`q`/`h`/`f` or `l`/`m`/`h`); unknown names rank in the middle, in their order.
pub fn pick_layer(rids: &[&str], layer: Layer) -> Option<usize> {
    let full = rids.iter().any(|r| matches!(*r, "f" | "full"));
    let rank = |rid: &str| match rid {
        "q" | "l" | "low" => 0,
        "h" if full => 1,
        "h" | "f" | "high" | "full" => 2,
        _ => 1,
    };
    let ranked = rids.iter().enumerate().map(|(i, r)| (rank(r), i));
    match layer {
        Layer::Low => ranked.min_by_key(|(rank, i)| (*rank, *i)),
        Layer::High => ranked.max_by_key(|(rank, i)| (*rank, std::cmp::Reverse(*i))),
    }
    .map(|(_, i)| i)
}

/// Speaking detection from the audio levels in publishers' packets (RFC 6464).
#[derive(Debug, Default)]
pub struct Levels {
    last: HashMap<ParticipantId, (u8, Instant)>,
}

/// Louder than this (in -dBov: 0 is the loudest, 127 silence) counts as speaking.
const SPEAKING_BELOW_DBOV: u8 = 50;
/// A level older than this no longer counts.
const LEVEL_FRESH: Duration = Duration::from_millis(500);

impl Levels {
    /// Note a packet's level: `level` as str0m gives it, -127..=0 dBov (either sign
    /// accepted).
    pub fn record(&mut self, who: &ParticipantId, level: i8, now: Instant) {
        let dbov = level.unsigned_abs().min(127);
        match self.last.get_mut(who) {
            Some(entry) => *entry = (dbov, now),
            None => {
                self.last.insert(who.clone(), (dbov, now));
            }
        }
    }

    /// Those heard whose recent packets are loud enough, loudest first.
    pub fn speaking(&self, routing: &Routing, now: Instant) -> Vec<ParticipantId> {
        let mut loud: Vec<(u8, &ParticipantId)> = routing
            .heard
            .iter()
            .filter_map(|p| {
                let (dbov, at) = self.last.get(p)?;
                (*dbov < SPEAKING_BELOW_DBOV && now.duration_since(*at) < LEVEL_FRESH)
                    .then_some((*dbov, p))
            })
            .collect();
        loud.sort();
        loud.into_iter().map(|(_, p)| p.clone()).collect()
    }

    pub fn forget(&mut self, who: &ParticipantId) {
        self.last.remove(who);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str) -> ParticipantId {
        ParticipantId::new(id)
    }

    fn ids(list: &[&str]) -> Vec<ParticipantId> {
        list.iter().map(|s| p(s)).collect()
    }

    fn no_screen(_: &ParticipantId) -> bool {
        false
    }

    #[test]
    fn the_lecturers_shared_screen_goes_to_the_stage_screen_and_never_to_the_camera_tracks() {
        let mut r = Routing::default();
        let chair = p("chair");
        let change = r.update(ids(&["chair"]), |_, _| true, |who| who == &chair);
        assert!(change.camera && change.screen);
        assert_eq!(r.screen, Some(chair.clone()));
        assert!(r.feeds(&Source::StageScreen, MediaKind::Video, &chair, true));
        assert!(!r.feeds(&Source::StageScreen, MediaKind::Video, &chair, false));
        assert!(
            !r.feeds(&Source::Stage, MediaKind::Video, &chair, true),
            "the camera track gets no screen"
        );
        assert!(r.feeds(
            &Source::Screen(chair.clone()),
            MediaKind::Video,
            &chair,
            true
        ));
        assert!(!r.feeds(
            &Source::Participant(chair.clone()),
            MediaKind::Video,
            &chair,
            true
        ));
        assert_eq!(r.who(&Source::StageScreen), Some(chair.clone()));
        // A member sharing without the floor is not on the stage's screen.
        let change = r.update(ids(&["chair"]), |_, _| true, |who| who == &p("m1"));
        assert!(change.screen && !change.camera);
        assert_eq!(r.screen, None);
        assert!(
            r.feeds(&Source::Screen(p("m1")), MediaKind::Video, &p("m1"), true),
            "members still see it"
        );
    }

    #[test]
    fn the_stage_is_the_first_heard_who_sends_video() {
        let mut r = Routing::default();
        let video = |who: &ParticipantId, _: MediaKind| who != &p("audio-only");
        assert!(
            r.update(ids(&["audio-only", "chair"]), video, no_screen)
                .camera
        );
        assert_eq!(r.stage, Some(p("chair")));
        assert!(
            r.update(ids(&["m1", "chair"]), video, no_screen).camera,
            "the floor holder comes first"
        );
        assert_eq!(r.stage, Some(p("m1")));
        assert!(!r.update(ids(&["m1", "chair"]), video, no_screen).camera);
        assert!(r.update(vec![], video, no_screen).camera);
        assert_eq!(r.stage, None);
    }

    #[test]
    fn a_voice_keeps_its_audience_slot_while_heard() {
        let mut r = Routing::default();
        let all = |_: &ParticipantId, _: MediaKind| true;
        r.update(ids(&["chair", "m1", "m2", "m3"]), all, no_screen);
        assert_eq!(r.slots, [Some(p("chair")), Some(p("m1")), Some(p("m2"))]);
        r.update(ids(&["m3", "chair", "m2"]), all, no_screen);
        assert_eq!(
            r.slots,
            [Some(p("chair")), Some(p("m3")), Some(p("m2"))],
            "m1 left; m3 takes the free slot and the others stay put"
        );
    }

    #[test]
    fn audio_of_someone_not_heard_feeds_no_track() {
        let mut r = Routing::default();
        r.update(ids(&["chair"]), |_, _| true, no_screen);
        let m1 = p("m1");
        let grid = Source::Participant(m1.clone());
        assert!(!r.feeds(&grid, MediaKind::Audio, &m1, false));
        assert!(
            r.feeds(&grid, MediaKind::Video, &m1, false),
            "members see each other"
        );
        assert!(!r.feeds(&Source::Stage, MediaKind::Video, &m1, false));
        assert!(r.feeds(&Source::Stage, MediaKind::Video, &p("chair"), false));
        assert!(r.feeds(&Source::Slot(0), MediaKind::Audio, &p("chair"), false));
        assert!(!r.feeds(&Source::Slot(0), MediaKind::Video, &p("chair"), false));
        r.update(ids(&["m1", "chair"]), |_, _| true, no_screen);
        assert!(r.feeds(&grid, MediaKind::Audio, &m1, false));
        assert!(r.feeds(&Source::Stage, MediaKind::Video, &m1, false));
    }

    #[test]
    fn the_grid_forwards_the_low_layer_and_the_stage_the_high_one() {
        assert_eq!(pick_layer(&["f", "h", "q"], Layer::Low), Some(2));
        assert_eq!(pick_layer(&["f", "h", "q"], Layer::High), Some(0));
        assert_eq!(pick_layer(&["l", "m", "h"], Layer::High), Some(2));
        assert_eq!(pick_layer(&["h", "l"], Layer::Low), Some(1));
        assert_eq!(pick_layer(&["a", "b"], Layer::Low), Some(0));
        assert_eq!(pick_layer(&[], Layer::Low), None);
        let mut r = Routing::default();
        r.update(ids(&["m1"]), |_, _| true, no_screen);
        assert_eq!(r.layer(&Source::Participant(p("m1"))), Layer::High);
        assert_eq!(r.layer(&Source::Participant(p("m2"))), Layer::Low);
        assert_eq!(r.layer(&Source::Stage), Layer::High);
    }

    #[test]
    fn speaking_lists_loud_recent_heard_voices_loudest_first() {
        let mut levels = Levels::default();
        let mut r = Routing::default();
        r.update(ids(&["chair", "m1", "m2"]), |_, _| true, no_screen);
        let t0 = Instant::now();
        levels.record(&p("chair"), -30, t0);
        levels.record(&p("m1"), -10, t0);
        levels.record(&p("m2"), -90, t0);
        levels.record(&p("m9"), -5, t0);
        assert_eq!(levels.speaking(&r, t0), ids(&["m1", "chair"]));
        assert!(levels.speaking(&r, t0 + Duration::from_secs(1)).is_empty());
    }
}
