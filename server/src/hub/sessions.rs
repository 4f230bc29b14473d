//! Resume sessions of one room: the session id a `welcome` hands out, and the identity it
//! stands for, so that a reconnecting client is who it was.
//!
//! That matters for anonymous viewers, whose identity exists only here; a member's
//! identity is in their token and their places in the queue are the engine's, so a
//! forgotten session costs them nothing. A session is kept while a connection uses it and
//! for a grace after the last one left, then forgotten; the map is also capped, the oldest
//! departed going first, so viewers coming and going leave nothing behind.
//!
//! Pure bookkeeping: time is an argument.

use std::collections::{HashMap, VecDeque};

use yishi_protocol::{Millis, Participant};

#[derive(Debug)]
struct Session {
    who: Participant,
    /// Connections using it now.
    live: u32,
    /// When the last connection left, while none uses it.
    left_at: Option<Millis>,
}

#[derive(Debug)]
pub(crate) struct Sessions {
    map: HashMap<String, Session>,
    /// Departures in time order: (when, session id). An entry whose session came back or
    /// left again later is stale and skipped.
    departed: VecDeque<(Millis, String)>,
    grace_ms: u64,
    cap: usize,
}

impl Sessions {
    pub fn new(grace: std::time::Duration, cap: usize) -> Sessions {
        Sessions {
            map: HashMap::new(),
            departed: VecDeque::new(),
            grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            cap: cap.max(1),
        }
    }

    /// Who `id` stands for, if it is known (in use, or departed within the grace).
    pub fn find(&self, id: &str) -> Option<&Participant> {
        self.map.get(id).map(|s| &s.who)
    }

    /// A connection starts using session `id` for `who`.
    pub fn open(&mut self, id: &str, who: &Participant, now: Millis) {
        if let Some(s) = self.map.get_mut(id) {
            s.live += 1;
            s.left_at = None;
            s.who = who.clone();
            return;
        }
        while self.map.len() >= self.cap && self.forget_oldest(now) {}
        self.map.insert(
            id.to_owned(),
            Session {
                who: who.clone(),
                live: 1,
                left_at: None,
            },
        );
    }

    /// A connection using session `id` ended.
    pub fn close(&mut self, id: &str, now: Millis) {
        if let Some(s) = self.map.get_mut(id) {
            s.live = s.live.saturating_sub(1);
            if s.live == 0 {
                s.left_at = Some(now);
                self.departed.push_back((now, id.to_owned()));
            }
        }
    }

    /// Forget sessions whose grace ran out by `now`.
    pub fn prune(&mut self, now: Millis) {
        while let Some((at, _)) = self.departed.front() {
            if at.0.saturating_add(self.grace_ms) > now.0 {
                break;
            }
            self.forget_oldest(now);
        }
        // Give memory back after a crowd has gone.
        if self.map.capacity() > 64 && self.map.len() * 4 < self.map.capacity() {
            self.map.shrink_to_fit();
        }
        if self.departed.capacity() > 64 && self.departed.len() * 4 < self.departed.capacity() {
            self.departed.shrink_to_fit();
        }
    }

    /// When the next session's grace runs out.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.departed
            .front()
            .map(|(at, _)| Millis(at.0.saturating_add(self.grace_ms)))
    }

    /// Forget the oldest departed session; false if none has departed.
    fn forget_oldest(&mut self, _now: Millis) -> bool {
        while let Some((at, id)) = self.departed.pop_front() {
            // Only if it is still departed, and departed then.
            if self
                .map
                .get(&id)
                .is_some_and(|s| s.live == 0 && s.left_at == Some(at))
            {
                self.map.remove(&id);
                return true;
            }
        }
        false
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use yishi_protocol::Role;

    fn viewer(n: u32) -> Participant {
        Participant::new(format!("aud-{n}"), format!("观众{n}"), Role::Audience)
    }

    const T0: Millis = Millis(1_000_000);

    #[test]
    fn a_departed_session_is_kept_for_the_grace_then_forgotten() {
        let mut s = Sessions::new(Duration::from_secs(30), 100);
        s.open("s1", &viewer(1), T0);
        s.close("s1", T0.plus(1_000));
        s.prune(T0.plus(30_999));
        assert_eq!(s.find("s1"), Some(&viewer(1)));
        assert_eq!(s.next_expiry(), Some(T0.plus(31_000)));
        s.prune(T0.plus(31_000));
        assert_eq!(s.find("s1"), None);
        assert_eq!(s.next_expiry(), None);
    }

    #[test]
    fn a_session_back_within_the_grace_is_kept_as_long_as_it_is_used() {
        let mut s = Sessions::new(Duration::from_secs(30), 100);
        s.open("s1", &viewer(1), T0);
        s.close("s1", T0);
        s.open("s1", &viewer(1), T0.plus(10_000));
        s.prune(T0.plus(100_000));
        assert!(s.find("s1").is_some(), "in use: never forgotten");
        // Two connections on one session: it departs when the last one leaves.
        s.open("s1", &viewer(1), T0.plus(100_000));
        s.close("s1", T0.plus(100_000));
        s.prune(T0.plus(200_000));
        assert!(s.find("s1").is_some());
        s.close("s1", T0.plus(200_000));
        s.prune(T0.plus(230_000));
        assert!(s.find("s1").is_none());
    }

    #[test]
    fn the_map_is_capped_by_forgetting_the_oldest_departed() {
        let mut s = Sessions::new(Duration::from_secs(30), 3);
        s.open("a", &viewer(1), T0);
        s.open("b", &viewer(2), T0);
        s.close("b", T0.plus(1));
        s.close("a", T0.plus(2));
        s.open("c", &viewer(3), T0.plus(3));
        s.open("d", &viewer(4), T0.plus(4));
        assert_eq!(s.len(), 3);
        assert!(s.find("b").is_none(), "the oldest departure went first");
        assert!(s.find("a").is_some());
        // With none departed, live sessions are never dropped.
        s.open("a", &viewer(1), T0.plus(5));
        s.open("e", &viewer(5), T0.plus(6));
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn a_crowd_that_came_and_went_leaves_nothing() {
        let mut s = Sessions::new(Duration::from_secs(30), 100_000);
        for i in 0..3000 {
            let id = format!("s{i}");
            s.open(&id, &viewer(i), T0);
            s.close(&id, T0.plus(u64::from(i)));
        }
        s.prune(T0.plus(40_000));
        assert_eq!(s.len(), 0);
        assert!(s.map.capacity() <= 64, "{}", s.map.capacity());
    }
}
