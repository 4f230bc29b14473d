//! The SFU's handle: how connections, room actors and the livestream talk to the unit's
//! task ([`unit`](super::unit)), and its configuration.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use yishi_protocol::{ParticipantId, SessionState};

use super::LiveTarget;
use super::unit;
use crate::outbox::Outbox;

/// Where the SFU listens and what it tells peers.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP address every peer sends to. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// An address peers reach the server at, if not the bound one (behind NAT): offered
    /// as a second host candidate with the same port.
    pub public_ip: Option<IpAddr>,
    /// Media sessions at most; more get `media_unavailable` (one core forwards for all).
    pub max_peers: usize,
}

/// The default [`MediaConfig::max_peers`].
pub const DEFAULT_MAX_PEERS: usize = 1000;

/// A handle to the running SFU. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    tx: mpsc::UnboundedSender<Control>,
    addr: SocketAddr,
    /// The session state last told per room, so a room actor may tell it after every
    /// turn and only changes reach the SFU task. A `std` mutex: held for one lookup,
    /// never across an await.
    sessions: Arc<Mutex<HashMap<Arc<str>, SessionState>>>,
    /// Rooms where the unit refused an audience member for lack of room, until taken.
    crowded: Arc<Mutex<Option<mpsc::UnboundedReceiver<Arc<str>>>>>,
}

/// Who a media session belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub conn: u64,
    pub room: Arc<str>,
    pub who: ParticipantId,
    /// Holds the `publish_media` grant: its media may be forwarded at all.
    pub publish: bool,
    /// Receives the stage only.
    pub audience: bool,
}

/// A signalling message from a connection.
#[derive(Debug)]
pub(crate) enum Signal {
    Offer(String),
    Answer(String),
    Candidate(String),
    Stop,
}

#[derive(Debug)]
pub(super) enum Control {
    Signal {
        owner: Owner,
        outbox: Outbox,
        signal: Signal,
    },
    /// The connection closed.
    Gone { conn: u64 },
    /// Whose audio the room's floor allows, in [`crate::room::Room::heard`] order.
    Floor {
        room: Arc<str>,
        heard: Vec<ParticipantId>,
    },
    /// The room's session changed state.
    Session { room: Arc<str>, state: SessionState },
    /// Feed the room's stage to a livestream worker listening there, or stop (`None`).
    Live {
        room: Arc<str>,
        target: Option<LiveTarget>,
    },
}

impl Sfu {
    /// Bind the UDP socket and start the SFU task.
    pub async fn start(config: MediaConfig) -> std::io::Result<Sfu> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (crowded_tx, crowded) = mpsc::unbounded_channel();
        let unit = unit::Unit::bind(&config, crowded_tx).await?;
        let addr = unit.local_addr();
        tokio::spawn(unit.run(rx));
        tracing::info!(%addr, "media unit listening (UDP)");
        Ok(Sfu {
            tx,
            addr,
            sessions: Arc::default(),
            crowded: Arc::new(Mutex::new(Some(crowded))),
        })
    }

    /// The rooms where an audience member is refused because the unit is full (its
    /// `max_peers`), each time it happens: for the livestream, which then carries them.
    /// `None` once taken.
    pub fn take_crowded(&self) -> Option<mpsc::UnboundedReceiver<Arc<str>>> {
        self.crowded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The UDP address peers send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn signal(&self, owner: Owner, outbox: Outbox, signal: Signal) {
        let _ = self.tx.send(Control::Signal {
            owner,
            outbox,
            signal,
        });
    }

    pub(crate) fn gone(&self, conn: u64) {
        let _ = self.tx.send(Control::Gone { conn });
    }

    pub(crate) fn floor(&self, room: Arc<str>, heard: Vec<ParticipantId>) {
        let _ = self.tx.send(Control::Floor { room, heard });
    }

    /// Feed the stage of `room` to the livestream worker at `target` (plain RTP on
    /// loopback), afresh: its video starts at a key frame, asked for at once. `None`
    /// stops the feed.
    pub fn live(&self, room: Arc<str>, target: Option<LiveTarget>) {
        let _ = self.tx.send(Control::Live { room, target });
    }

    /// The room's session state as its actor last told it (`None`: not told yet).
    pub fn session_state(&self, room: &str) -> Option<SessionState> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(room).copied()
    }

    /// The room's session state, told after every turn of its actor: media reaches
    /// those who only receive (the audience, projectors) only while the session is open,
    /// and a closed session ends every media session of the room.
    pub(crate) fn session(&self, room: &Arc<str>, state: SessionState) {
        let changed = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.insert(room.clone(), state) != Some(state)
        };
        if changed {
            let _ = self.tx.send(Control::Session {
                room: room.clone(),
                state,
            });
        }
    }
}
