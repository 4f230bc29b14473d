//! The board (码上议事) over HTTP, under `/api/v1/board`: the public list, search and
//! topic pages; residents' and members' commands and feeds; the staff's commands and
//! views through the console's [`Caller`] (a session with its CSRF token, or the admin
//! key), each staff command audited. Documented in `docs/board.md`.
//!
//! The shell around the pure engine: one [`Board`] in memory, replayed from the store at
//! start; a command is decided on a copy, its events sealed into the hash chain and
//! committed with the search index changes they cause, and only then does the copy
//! become the board (durability before visibility). Commands are committed in groups: one
//! writer takes every command that came while the last commit was in flight, decides them
//! in turn and commits them in one transaction (one disk flush for all).
//!
//! Who a resident is: a board token (the join-token JWT, signed with the server's token
//! keys) in the `yishi_resident` cookie or as a bearer token. `POST /identity` with a
//! display name mints one for room `board-guest` (an unverified resident `res-…`);
//! with a token minted by the committee's platform for room `board` it is kept as is
//! (a verified resident, or a member for role `member`). A meeting's join token with
//! role `host` or `recorder` acts as that meeting's chair or recorder (its opinions).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{ConnectInfo, Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::{Mutex, broadcast, mpsc, oneshot};
use yishi_protocol::{Participant, Role};

use super::AppState;
use super::admin::ApiError;
use super::console::{Caller, cookie};
use crate::auth::{Claims, random_base32};
use crate::board::{
    Actor, Board, Chain, Changed, Command, Day, DutyView, ErrorCode, Event, EventBody, Filter,
    Identity, MemberId, PresidingRole, Rejection, SlotId, Stage, TopicId, verify_chain,
};
use crate::hub::now;
use crate::minutes::time::LocalDate;
use crate::minutes::{ItemRecord, Minutes};
use crate::staff::StaffRole;
use crate::store::{
    AgendaEntry, MeetingDetails, RoomKind, SearchDoc, Store, StoreError, StoreResult,
};

/// The cookie that holds a resident's board token.
pub const RESIDENT_COOKIE: &str = "yishi_resident";
/// The `room` of a board token minted by the committee's platform: a verified person.
pub const BOARD_ROOM: &str = "board";
/// The `room` of a board token this server minted for a display name.
pub const GUEST_ROOM: &str = "board-guest";
/// Topics on one page of the list at most.
const MAX_PAGE: usize = 100;
/// Search results considered at most.
const MAX_SEARCH: u32 = 500;

const fn per_minute(n: u32) -> Quota {
    Quota::per_minute(match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    })
}

/// Commands from one identity: 20 a minute.
const IDENTITY_QUOTA: Quota = per_minute(20);
/// Commands and new identities from one address: 120 a minute (a household, an office
/// behind one address).
const ADDRESS_QUOTA: Quota = per_minute(120);

/// Closed meetings' minutes kept at most: a closed room's record no longer changes, and
/// every reader of a topic's page would otherwise read it again.
const CLOSED_MINUTES: usize = 256;

/// Commands one commit takes at most.
const BATCH: usize = 256;
/// Commands waiting for the writer at most; beyond, a command waits to be queued.
const QUEUE: usize = 4096;

/// The board in memory and its chain's head.
struct Live {
    board: Board,
    chain: Chain,
}

/// A command waiting for the writer, and where its answer goes.
struct Queued {
    actor: Actor,
    command: Command,
    answer: oneshot::Sender<Result<Vec<Event>, BoardError>>,
}

/// The board of this server, and the limits on who writes to it.
pub struct BoardHost {
    /// A Tokio mutex: a batch of commands holds it across the store's commit, and so does
    /// a catch-up, so that they never interleave and the record stays in order.
    live: Mutex<Live>,
    /// Commands for the writer task (see [`BoardHost::apply`]).
    commands: mpsc::Sender<Queued>,
    /// The board as last committed, for reads (replaced after each commit and catch-up;
    /// the lock is held only to copy or replace the `Arc`).
    shown: std::sync::RwLock<Arc<Board>>,
    identities: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    /// What each commit (this server's, or another's folded here) changed, for the live
    /// updates of the pages (`GET /live`).
    changes: broadcast::Sender<Arc<Changed>>,
    /// The minutes of closed meetings topics were selected into, by room id. A
    /// `std::sync::Mutex`: it is never held across an `.await`.
    closed: std::sync::Mutex<std::collections::HashMap<String, Arc<Minutes>>>,
    /// False when the limits are lifted for a load test (`--no-board-rate-limits`).
    limited: bool,
}

/// Why a board command failed.
#[derive(Debug)]
pub enum BoardError {
    Refused(Rejection),
    /// The commit of the command's batch failed: shared by every command of the batch.
    Store(Arc<StoreError>),
    /// The writer task is gone (it panicked): nothing is committed any more.
    Stopped,
}

impl From<BoardError> for ApiError {
    fn from(e: BoardError) -> Self {
        match e {
            BoardError::Refused(r) => {
                let status = match r.code {
                    ErrorCode::Forbidden => StatusCode::FORBIDDEN,
                    ErrorCode::NotFound => StatusCode::NOT_FOUND,
                    ErrorCode::InvalidState | ErrorCode::AlreadySupported | ErrorCode::Merged => {
                        StatusCode::CONFLICT
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError(status, r.code.as_str(), r.message)
            }
            BoardError::Store(e) => {
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            }
            BoardError::Stopped => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the board takes no commands: its writer stopped".into(),
            ),
        }
    }
}

impl BoardHost {
    /// Replay the board's record from the store, checking its chain, and start the writer
    /// that commits the commands (see [`BoardHost::apply`]).
    /// `limited`: whether the rate limits apply (see [`BoardHost::over_limit`]).
    pub async fn load(store: &Store, limited: bool) -> StoreResult<Arc<BoardHost>> {
        let entries = store.board_load().await?;
        let head = verify_chain(&entries).map_err(|seq| {
            StoreError::Corrupt(format!("the board's record breaks at entry {seq}"))
        })?;
        let board = Board::replay(entries.iter().map(|e| &e.event));
        tracing::info!(events = entries.len(), "board replayed");
        let (commands, queue) = mpsc::channel(QUEUE);
        let host = Arc::new(BoardHost {
            shown: std::sync::RwLock::new(Arc::new(board.clone())),
            live: Mutex::new(Live {
                board,
                chain: Chain::resume(&head).unwrap_or_default(),
            }),
            commands,
            identities: RateLimiter::keyed(IDENTITY_QUOTA),
            addresses: RateLimiter::keyed(ADDRESS_QUOTA),
            changes: broadcast::channel(CHANGES).0,
            closed: Default::default(),
            limited,
        });
        tokio::spawn(host.clone().write(store.clone(), queue));
        Ok(host)
    }

    /// Show `board`, into which `events` were just folded (committed): to reads, and to
    /// the pages' live connections, told what changed.
    fn show(&self, board: &Board, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        // A copy of a persistent board costs next to nothing.
        *self.shown.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(board.clone());
        let changed = board.changed(events);
        if !changed.is_empty() {
            // Nobody listening is not an error.
            let _ = self.changes.send(Arc::new(changed));
        }
    }

    /// The changes from now on.
    pub fn changes(&self) -> broadcast::Receiver<Arc<Changed>> {
        self.changes.subscribe()
    }

    /// Fold what others appended to the store, and tell the pages.
    async fn catch_up(&self, live: &mut Live, store: &Store) -> StoreResult<()> {
        let folded = catch_up(live, store).await?;
        self.show(&live.board, &folded);
        Ok(())
    }

    /// Whether a request from `ip` is over the limits: a command (with its sender's
    /// `identity`) or a new identity (without). Never when the limits are lifted.
    fn over_limit(&self, ip: &IpAddr, identity: Option<&str>) -> bool {
        self.limited
            && (self.addresses.check_key(ip).is_err()
                || identity.is_some_and(|id| self.identities.check_key(&id.to_owned()).is_err()))
    }

    /// Decide `command` on the latest board, commit its events and index changes, then
    /// show them: queued for the writer, answered once its batch is committed (a refusal
    /// too, so that nobody is told of a state not committed).
    pub async fn apply(&self, actor: &Actor, command: &Command) -> Result<Vec<Event>, BoardError> {
        let (answer, answered) = oneshot::channel();
        let queued = Queued {
            actor: actor.clone(),
            command: command.clone(),
            answer,
        };
        self.commands
            .send(queued)
            .await
            .map_err(|_| BoardError::Stopped)?;
        answered.await.unwrap_or(Err(BoardError::Stopped))
    }

    /// The writer: takes the commands that came while the last commit was in flight (up
    /// to [`BATCH`]), commits them in one transaction and answers each. Run by a task
    /// of its own, so that a request that goes away does not cancel its batch's commit.
    async fn write(self: Arc<Self>, store: Store, mut queue: mpsc::Receiver<Queued>) {
        let mut batch = Vec::with_capacity(BATCH);
        while queue.recv_many(&mut batch, BATCH).await > 0 {
            let (commands, answers): (Vec<_>, Vec<_>) = batch
                .drain(..)
                .map(|q| ((q.actor, q.command), q.answer))
                .unzip();
            metrics::histogram!("yishi_board_batch_commands").record(commands.len() as f64);
            let results = self.apply_all(&store, &commands).await;
            for (answer, result) in answers.into_iter().zip(results) {
                // A request that went away is not an error: its command is committed.
                let _ = answer.send(result);
            }
        }
    }

    /// Decide `commands` in turn on the latest board (each sees the ones before it), commit
    /// all their events and index changes in one transaction, then show them; each
    /// command's answer, in order. If the commit fails, every command gets its error and
    /// the board stays as last committed. Another writer on the same store (a second
    /// node) that commits between the catch-up and the commit makes it conflict: the
    /// board catches up again and decides the batch again, once.
    pub async fn apply_all(
        &self,
        store: &Store,
        commands: &[(Actor, Command)],
    ) -> Vec<Result<Vec<Event>, BoardError>> {
        let mut live = self.live.lock().await;
        match self.commit(&mut live, store, commands).await {
            Ok(decided) => decided
                .into_iter()
                .map(|d| d.map_err(BoardError::Refused))
                .collect(),
            Err(e) => {
                let e = Arc::new(e);
                commands
                    .iter()
                    .map(|_| Err(BoardError::Store(e.clone())))
                    .collect()
            }
        }
    }

    /// [`BoardHost::apply_all`] under the board's lock: each command's events or refusal.
    async fn commit(
        &self,
        live: &mut Live,
        store: &Store,
        commands: &[(Actor, Command)],
    ) -> StoreResult<Vec<Result<Vec<Event>, Rejection>>> {
        // Decide on the latest board: another server may have appended since (one
        // look-up by primary key, empty nearly always).
        self.catch_up(live, store).await?;
        for attempt in 0..2 {
            let mut next = live.board.clone();
            let decided: Vec<_> = commands
                .iter()
                .map(|(actor, command)| next.apply(actor, command, now()))
                .collect();
            let events: Vec<Event> = decided
                .iter()
                .filter_map(|d| d.as_ref().ok())
                .flatten()
                .cloned()
                .collect();
            let mut chain = live.chain.clone();
            let entries: Vec<_> = events.iter().cloned().map(|e| chain.seal(e)).collect();
            match store
                .board_append(&entries, &search_docs(&next, &events))
                .await
            {
                Ok(()) => {
                    *live = Live { board: next, chain };
                    self.show(&live.board, &events);
                    return Ok(decided);
                }
                Err(
                    StoreError::Conflict
                    | StoreError::OutOfOrder { .. }
                    | StoreError::BrokenLink { .. },
                ) if attempt == 0 => self.catch_up(live, store).await?,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Read the board as last committed: never waits for a command being decided or
    /// committed.
    pub async fn read<T>(&self, f: impl FnOnce(&Board) -> T) -> T {
        let board = self.shown.read().unwrap_or_else(|e| e.into_inner()).clone();
        f(&board)
    }

    /// Keep the board up to date and the limiters small, as long as the runtime runs:
    /// another server on the same store (a node of a cluster) may append to the board,
    /// and this one folds what it wrote every [`CATCH_UP`]; the rate limiters forget
    /// identities and addresses that have been quiet for a minute.
    pub fn spawn_upkeep(self: std::sync::Arc<Self>, store: Store) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CATCH_UP);
            let mut ticks = 0u32;
            loop {
                tick.tick().await;
                if let Err(e) = self.catch_up(&mut *self.live.lock().await, &store).await {
                    tracing::warn!(error = %e, "board: reading the store's record failed");
                }
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(30) {
                    self.identities.retain_recent();
                    self.addresses.retain_recent();
                }
            }
        });
    }
}

/// A live connection's messages come at most this often.
const LIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Changes a slow live connection may fall behind by before it is told to read again.
const CHANGES: usize = 256;

/// How often a server folds what others appended to the board.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// The search index's changes for the topics `events` touched, read from `board` (the
/// board after them).
fn search_docs(board: &Board, events: &[Event]) -> Vec<SearchDoc> {
    let mut touched: Vec<TopicId> = events
        .iter()
        .flat_map(|e| e.body.touched_topics())
        .collect();
    touched.sort();
    touched.dedup();
    touched
        .into_iter()
        .map(|topic| SearchDoc {
            topic,
            text: board
                .searchable(topic)
                .map(|(t, b)| (t.to_owned(), b.to_owned())),
        })
        .collect()
}

/// Fold the entries the store has after the board's last one (written by another
/// server on the same store), checking that they continue its chain; the events folded.
async fn catch_up(live: &mut Live, store: &Store) -> StoreResult<Vec<Event>> {
    let tail = store
        .board_entries_since(live.board.seq(), u32::MAX)
        .await?;
    let mut chain = live.chain.clone();
    for entry in &tail {
        if entry.prev != chain.head() || chain.clone().seal(entry.event.clone()).hash != entry.hash
        {
            return Err(StoreError::Corrupt(format!(
                "the board's record breaks at entry {}",
                entry.event.seq
            )));
        }
        chain = Chain::resume(&entry.hash).unwrap_or_default();
    }
    for entry in &tail {
        live.board.fold(&entry.event);
    }
    live.chain = chain;
    Ok(tail.into_iter().map(|e| e.event).collect())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/topics", get(list))
        .route("/topics/{id}", get(page))
        .route("/identity", post(identity))
        .route("/commands", post(command))
        .route("/feed", get(feed))
        .route("/live", get(live))
        .route("/staff/commands", post(staff_command))
        .route("/staff/queue", get(queue))
        .route("/staff/shortlist", get(shortlist))
        .route("/staff/review", get(review))
        .route("/staff/review/meeting", post(review_meeting))
        .route("/studios", get(studios))
        .route("/studios/{member}", get(studio))
        .route("/studios/{member}/qr.svg", get(studio_qr))
        .route("/staff/overdue", get(overdue))
        .route("/studios/{member}/duty/{slot}/audience", get(duty_audience))
        .route("/studios/{member}/duty/{slot}/host", post(duty_host))
        .route("/staff/duty", get(staff_duty))
        .route("/staff/reports", get(reports))
}

#[derive(Deserialize)]
struct ListQuery {
    stage: Option<String>,
    area: Option<String>,
    category: Option<String>,
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_argument", message.into())
}

/// Published topics, newest first (or the search's matches), filtered and paged.
async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let stage = match q.stage.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Stage::parse(s).ok_or_else(|| bad(format!("no stage {s:?}")))?),
        None => None,
    };
    let only = match q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(state.store.board_search(text, MAX_SEARCH).await?),
        None => None,
    };
    let filter = Filter {
        stage,
        area: q.area.filter(|s| !s.is_empty()),
        category: q.category.filter(|s| !s.is_empty()),
        only,
    };
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let (topics, total) = state
        .board
        .read(|b| b.public_topics(&filter, offset, limit))
        .await;
    Ok(Json(
        json!({ "topics": topics, "total": total, "offset": offset, "limit": limit }),
    ))
}

/// A published topic's page; with `me` when the caller has a board identity.
async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let me = resident(&state, &headers).ok().map(|a| a.identity());
    let topic = TopicId(id);
    let (page, mine) = state
        .board
        .read(|b| {
            let mine = me.map(|who| json!({ "supports": b.supports(topic, &who), "follows": b.follows(topic, &who) }));
            (b.topic_page(topic), mine)
        })
        .await;
    let page =
        page.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "not_found", format!("no topic {id}")))?;
    let in_meeting = match &page.meeting {
        Some(meeting) => in_meeting(&state, meeting, &page.title).await?,
        None => None,
    };
    let mut value = json!(page);
    value["in_meeting"] = in_meeting.unwrap_or(Value::Null);
    if let Some(mine) = mine {
        value["me"] = mine;
    }
    Ok(Json(value))
}

/// The agenda item a topic becomes in the meeting it is selected into.
fn agenda_item(title: &str) -> String {
    format!("议题：{title}")
}

/// What a topic's meeting did on the topic's agenda item (协商过程), read from the
/// meeting's record: the public parts only ([`ItemRecord`]), with the meeting's planned
/// start (`starts_at`, for a meeting prepared in the console). `None` when the meeting
/// is gone.
async fn in_meeting(
    state: &AppState,
    meeting: &str,
    title: &str,
) -> Result<Option<Value>, ApiError> {
    let Some(room) = state.store.room(meeting).await? else {
        return Ok(None);
    };
    let cached = state
        .board
        .closed
        .lock()
        .ok()
        .and_then(|c| c.get(meeting).cloned());
    let minutes = match cached {
        Some(m) => m,
        None => {
            let entries = state.store.load(meeting).await?.entries;
            let minutes = std::sync::Arc::new(Minutes::build(&room, &entries));
            if room.closed_at.is_some()
                && let Ok(mut c) = state.board.closed.lock()
            {
                if c.len() >= CLOSED_MINUTES {
                    c.clear();
                }
                c.insert(meeting.to_owned(), minutes.clone());
            }
            minutes
        }
    };
    let mut value = json!(ItemRecord::of(&minutes, &agenda_item(title)));
    value["starts_at"] = json!(
        state
            .store
            .meeting(meeting)
            .await?
            .map(|m| m.details.starts_at)
    );
    Ok(Some(value))
}

#[derive(Deserialize)]
struct IdentityBody {
    /// A display name, for a resident who takes part without being verified.
    name: Option<String>,
    /// A board token minted by the committee's platform (room `board`).
    token: Option<String>,
}

/// Take part on the board: a display name or a platform's token becomes the cookie.
async fn identity(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<IdentityBody>,
) -> Result<Response, ApiError> {
    let ip = super::client_ip(peer.ip(), &headers, &state.config.http.trusted_proxies);
    if state.board.over_limit(&ip, None) {
        return Err(rate_limited());
    }
    let keys = &state.config.auth.token_keys;
    let at = now();
    let (token, claims) = match (body.token, body.name) {
        (Some(token), _) => {
            let claims = keys.decode(&token, at).map_err(unauthorized)?;
            if claims.room != BOARD_ROOM {
                return Err(unauthorized("this token is not for the board"));
            }
            (token, claims)
        }
        (None, Some(name)) => {
            let sub = format!("res-{}", random_base32(&mut rand::rng(), 16));
            let who = Participant::new(sub, name, Role::Audience);
            let claims = Claims::new(GUEST_ROOM, &who, at, keys.max_lifetime());
            keys.check(&claims).map_err(|e| bad(e.to_string()))?;
            (keys.mint(&claims), claims)
        }
        (None, None) => return Err(bad("send a display name or a token")),
    };
    let actor = actor_of(&claims)?;
    let max_age = claims.exp.saturating_sub(at.0 / 1000);
    let secure = if state.config.http.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{RESIDENT_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/api/v1/board; Max-Age={max_age}{secure}"
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| bad("token not usable in a cookie"))?;
    let verified = !matches!(
        actor,
        Actor::Resident {
            verified: false,
            ..
        }
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({
            "identity": actor.identity(), "name": actor.name(), "verified": verified,
            "token": token,
        })),
    )
        .into_response())
}

fn unauthorized(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
}

fn rate_limited() -> ApiError {
    ApiError(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; wait a minute".into(),
    )
}

/// The actor a board or meeting token stands for.
fn actor_of(claims: &Claims) -> Result<Actor, ApiError> {
    let identity = Identity::new(claims.sub.clone());
    let name = claims.name.clone();
    match (claims.room.as_str(), claims.role) {
        (GUEST_ROOM, _) => Ok(Actor::Resident {
            identity,
            name,
            verified: false,
        }),
        (BOARD_ROOM, Role::Member) => Ok(Actor::Member { identity, name }),
        (BOARD_ROOM, _) => Ok(Actor::Resident {
            identity,
            name,
            verified: true,
        }),
        (meeting, Role::Host | Role::Recorder) if !claims.is_anonymous() => Ok(Actor::Presiding {
            meeting: meeting.to_owned(),
            identity,
            name,
            role: if claims.role == Role::Host {
                PresidingRole::Chair
            } else {
                PresidingRole::Recorder
            },
        }),
        _ => Err(unauthorized(
            "this token is neither a board token nor a meeting's chair's or recorder's",
        )),
    }
}

/// The resident, member or presiding officer a request comes from: its bearer token, or
/// its cookie.
fn resident(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let token = super::admin::bearer(headers)
        .or_else(|| cookie(headers, RESIDENT_COOKIE))
        .ok_or_else(|| unauthorized("take part first: POST /api/v1/board/identity"))?;
    let claims = state
        .config
        .auth
        .token_keys
        .decode(token, now())
        .map_err(unauthorized)?;
    actor_of(&claims)
}

/// A command from a resident, a member, or a meeting's chair or recorder. The request
/// must be JSON, which a form of another site cannot send without the browser asking
/// first; with the cookie's `SameSite=Strict` that is the CSRF defence.
async fn command(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(command): Json<Command>,
) -> Result<Json<Value>, ApiError> {
    let actor = resident(&state, &headers)?;
    let ip = super::client_ip(peer.ip(), &headers, &state.config.http.trusted_proxies);
    if state.board.over_limit(&ip, Some(&actor.identity().0)) {
        metrics::counter!("yishi_board_rate_limited_total").increment(1);
        return Err(rate_limited());
    }
    let events = state.board.apply(&actor, &command).await?;
    duty_rooms(&state, &events).await?;
    metrics::counter!("yishi_board_commands_total", "command" => command.name()).increment(1);
    Ok(Json(answer(&events)))
}

fn answer(events: &[Event]) -> Value {
    json!({ "seq": events.last().map(|e| e.seq), "events": events })
}

/// A staff command: audited with the command's type and what it names.
async fn staff_command(
    State(state): State<AppState>,
    who: Caller,
    Json(command): Json<Command>,
) -> Result<Json<Value>, ApiError> {
    let actor = Actor::Staff {
        name: who.name.clone(),
        role: if who.admin {
            StaffRole::Admin
        } else {
            StaffRole::Clerk
        },
    };
    if let Command::OpenStudio(c) = &command
        && !state
            .store
            .list_members(None)
            .await?
            .iter()
            .any(|m| m.id == c.member.0)
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no member {} in the roster", c.member.0),
        ));
    }
    if let Command::SelectIntoMeeting(c) = &command
        && state.store.room(c.meeting.trim()).await?.is_none()
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no meeting {}", c.meeting),
        ));
    }
    let events = state.board.apply(&actor, &command).await?;
    duty_rooms(&state, &events).await?;
    who.audit(
        &state,
        &format!("board.{}", command.name()),
        &target(&command),
    )
    .await?;
    if let Command::SelectIntoMeeting(c) = &command {
        add_agenda_item(&state, c.meeting.trim(), c.topic).await?;
    }
    Ok(Json(answer(&events)))
}

/// A topic selected into a meeting prepared in the console becomes one of its agenda
/// items (议程), unless the agenda has it already. A meeting without a preparation (a
/// room made through the admin API) keeps its agenda in the room only.
async fn add_agenda_item(state: &AppState, meeting: &str, topic: TopicId) -> Result<(), ApiError> {
    let (Some(mut prepared), Some(room)) = (
        state.store.meeting(meeting).await?,
        state.store.room(meeting).await?,
    ) else {
        return Ok(());
    };
    let Some(title) = state
        .board
        .read(|b| b.topic_page(topic).map(|p| p.title))
        .await
    else {
        return Ok(());
    };
    let item = agenda_item(&title);
    if prepared.details.agenda.iter().any(|a| a.title == item) {
        return Ok(());
    }
    prepared.details.agenda.push(AgendaEntry {
        title: item,
        limit_s: 0,
    });
    state
        .store
        .update_meeting(meeting, &room.title, &prepared.details, now().0 as i64)
        .await?;
    Ok(())
}

/// What a command names, for the audit log: `topic 3`, `comment 7`, `outcome 2`.
fn target(command: &Command) -> String {
    let value = serde_json::to_value(command).unwrap_or_default();
    [
        "topic",
        "duplicate",
        "comment",
        "outcome",
        "message",
        "slot",
        "member",
    ]
    .iter()
    .find_map(|k| value.get(*k).map(|v| format!("{k} {v}")))
    .unwrap_or_default()
}

/// The caller's notices, newest first.
async fn feed(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let who = resident(&state, &headers)?.identity();
    let notices = state.board.read(|b| b.feed(&who)).await;
    Ok(Json(json!({ "identity": who, "notices": notices })))
}

/// Live updates of the pages over a WebSocket: a text message whenever something a
/// reader sees changed, `{"topics": [ids], "studios": [members], "notices": bool, "all":
/// bool}`: the published topics and studios whose pages changed, `notices` when the
/// caller's own feed got one (their board identity, as for `/feed`), `all` when the
/// connection fell behind (read everything again). At most one a second; the client
/// sends nothing but the close.
async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let me = resident(&state, &headers).ok().map(|a| a.identity());
    let changes = state.board.changes();
    upgrade
        .max_message_size(1024)
        .on_upgrade(move |socket| serve_live(state, me, changes, socket))
}

/// What a live connection has still to say.
#[derive(Default)]
struct Pending {
    topics: BTreeSet<TopicId>,
    studios: BTreeSet<MemberId>,
    notices: bool,
    all: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.studios.is_empty() && !self.notices && !self.all
    }
}

async fn serve_live(
    state: AppState,
    me: Option<Identity>,
    mut changes: broadcast::Receiver<Arc<Changed>>,
    mut socket: WebSocket,
) {
    metrics::gauge!("yishi_board_live_connections").increment(1.0);
    let mut seen = match &me {
        Some(who) => state.board.read(|b| b.latest_notice(who)).await,
        None => 0,
    };
    let mut pending = Pending::default();
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(c) => {
                    pending.topics.extend(c.topics.iter().copied());
                    pending.studios.extend(c.studios.iter().copied());
                    pending.notices |= c.notices;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => pending.all = true,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            () = tokio::time::sleep_until(next), if !pending.is_empty() => {
                let said = std::mem::take(&mut pending);
                // Whether this reader's own feed grew: asked only when some feed did.
                let notices = match &me {
                    Some(who) if said.notices || said.all => {
                        let latest = state.board.read(|b| b.latest_notice(who)).await;
                        std::mem::replace(&mut seen, latest) < latest
                    }
                    _ => false,
                };
                if said.topics.is_empty() && said.studios.is_empty() && !notices && !said.all {
                    continue;
                }
                let text = json!({
                    "topics": said.topics,
                    "studios": said.studios,
                    "notices": notices,
                    "all": said.all,
                })
                .to_string();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                next = tokio::time::Instant::now() + LIVE_EVERY;
            }
        }
    }
    metrics::gauge!("yishi_board_live_connections").decrement(1.0);
}

async fn queue(State(state): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.board.read(Board::queue).await)))
}

async fn shortlist(State(state): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let (threshold, topics) = state.board.read(|b| (b.threshold(), b.shortlist())).await;
    Ok(Json(json!({ "threshold": threshold, "topics": topics })))
}

#[derive(Deserialize)]
struct ReviewQuery {
    /// The day to look from, `YYYY-MM-DD`; today (China time) by default.
    day: Option<String>,
}

/// The 回头看 list: outcomes due for review and not reviewed yet.
async fn review(
    State(state): State<AppState>,
    _: Caller,
    Query(q): Query<ReviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let day = match q.day {
        Some(d) => Day(d),
        None => Day::of(now()),
    };
    if !day.is_valid() {
        return Err(bad("the day is written YYYY-MM-DD"));
    }
    let due = state.board.read(|b| b.review_due(&day)).await;
    Ok(Json(json!({ "day": day, "outcomes": due })))
}

#[derive(Deserialize, Default)]
struct ReviewMeetingBody {
    /// The 回头看 list of this day (`YYYY-MM-DD`); today (China time) by default.
    day: Option<String>,
    /// The meeting's title; `回头看会议（<day>）` by default.
    title: Option<String>,
    /// Its start, in milliseconds; tomorrow at 09:00 China time by default.
    starts_at: Option<i64>,
}

/// The follow-up meeting (回头看会议) of a day's 回头看 list: a consultation prepared as
/// the console prepares one, with one agenda item `回头看：<outcome>（<unit>）` per outcome
/// due for review, in the list's order. 409 `invalid_state` when nothing is due.
async fn review_meeting(
    State(state): State<AppState>,
    who: Caller,
    body: Option<Json<ReviewMeetingBody>>,
) -> Result<Response, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let at = now();
    let day = match body.day {
        Some(d) => Day(d),
        None => Day::of(at),
    };
    if !day.is_valid() {
        return Err(bad("the day is written YYYY-MM-DD"));
    }
    let due = state.board.read(|b| b.review_due(&day)).await;
    if due.is_empty() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "invalid_state",
            format!("no outcome is due for review on {}", day.0),
        ));
    }
    let title = body
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| format!("回头看会议（{}）", day.0));
    if title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(bad(
            "a title has at most 200 characters and no control characters",
        ));
    }
    let starts_at = match body.starts_at {
        Some(ms) if ms > 0 => ms,
        Some(_) => return Err(bad("a start time is needed")),
        None => {
            let tomorrow = Day::of(yishi_protocol::Millis(at.0 + 86_400_000));
            LocalDate::parse(&tomorrow.0).map_or(at.0 as i64 + 86_400_000, |d| {
                d.start().0 as i64 + 9 * 3_600_000
            })
        }
    };
    let details = MeetingDetails {
        starts_at,
        ends_at: starts_at.saturating_add(3 * 3_600_000),
        place: String::new(),
        description: String::new(),
        agenda: due
            .iter()
            .map(|o| AgendaEntry {
                title: format!("回头看：{}（{}）", o.title, o.unit),
                limit_s: 0,
            })
            .collect(),
        venues: Vec::new(),
        livestream: false,
    };
    let id =
        super::meetings::create_meeting(&state, &title, RoomKind::Consultation, &details, None)
            .await?;
    who.audit(
        &state,
        "POST /api/v1/board/staff/review/meeting",
        &format!("{id} {title}"),
    )
    .await?;
    let mut shown = super::meetings::full(&state, &id).await?;
    shown["outcomes"] = json!(due.iter().map(|o| o.id).collect::<Vec<_>>());
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// The members' studios (网上工作室).
async fn studios(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "studios": state.board.read(Board::studios).await }))
}

/// A studio's public page; with an identity, `me.messages`: what the caller left there,
/// whatever its state, with private replies; for the studio's own member, `me.inbox`
/// (every published message with every reply) and `me.overdue`. `slots`: its duty slots
/// (会客时间) not ended, with their phase now.
async fn studio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(member): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let actor = resident(&state, &headers).ok();
    let member = MemberId(member);
    let at = now();
    let (page, mine, slots) = state
        .board
        .read(|b| {
            let mine = actor.map(|a| {
                let who = a.identity();
                let mut mine = json!({ "messages": b.sent_messages(member, &who) });
                if matches!(a, Actor::Member { .. }) && who == member.identity() {
                    let overdue: Vec<_> = b
                        .overdue(at)
                        .into_iter()
                        .filter(|m| m.member == member)
                        .collect();
                    mine["inbox"] = json!(b.inbox(member));
                    mine["overdue"] = json!(overdue);
                }
                mine
            });
            (b.studio_page(member), mine, b.duty_slots(Some(member), at))
        })
        .await;
    let page = page.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no studio {}", member.0),
        )
    })?;
    let mut value = json!(page);
    value["slots"] = json!(slots);
    if let Some(mine) = mine {
        value["me"] = mine;
    }
    Ok(Json(value))
}

#[derive(Deserialize)]
struct OverdueQuery {
    /// Overdue by the end of this day (`YYYY-MM-DD`, China time); now by default.
    day: Option<String>,
}

/// Studio messages published, unanswered and past their reply deadline (staff).
async fn overdue(
    State(state): State<AppState>,
    _: Caller,
    Query(q): Query<OverdueQuery>,
) -> Result<Json<Value>, ApiError> {
    let at = match q.day.as_deref() {
        Some(d) => crate::minutes::time::LocalDate::parse(d)
            .ok_or_else(|| bad("the day is written YYYY-MM-DD"))?
            .end(),
        None => now(),
    };
    let messages = state.board.read(|b| b.overdue(at)).await;
    Ok(Json(json!({ "at": at, "messages": messages })))
}

/// The address of a studio's page, as a QR code to print or show (SVG).
async fn studio_qr(
    State(state): State<AppState>,
    Path(member): Path<i64>,
) -> Result<Response, ApiError> {
    if state
        .board
        .read(|b| b.studio_page(MemberId(member)).is_none())
        .await
    {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no studio {member}"),
        ));
    }
    let url = format!(
        "{}/board#/studio/{member}",
        state.config.http.public_url.trim_end_matches('/')
    );
    super::qr_svg(&url, "public, max-age=3600")
}

// ----- duty slots (会客时间) and 社情民意 items -----

/// The rooms of duty slots scheduled by `events`, created as prepared lectures (so that
/// staff find them with the meetings); a cancelled slot's meeting is marked cancelled.
async fn duty_rooms(state: &AppState, events: &[Event]) -> Result<(), ApiError> {
    for event in events {
        match &event.body {
            EventBody::DutyScheduled { slot } => {
                let view = state.board.read(|b| b.duty_slot(slot.id, now())).await;
                if let Some(view) = view {
                    ensure_duty_room(state, &view).await?;
                }
            }
            EventBody::DutyCancelled { slot } => {
                let Some(view) = state.board.read(|b| b.duty_slot(*slot, now())).await else {
                    continue;
                };
                if let (Some(r), Some(m)) = (
                    state.store.room(&view.room).await?,
                    state.store.meeting(&view.room).await?,
                ) && !r.title.starts_with(CANCELLED)
                {
                    let title = format!("{CANCELLED}{}", r.title);
                    state
                        .store
                        .update_meeting(&view.room, &title, &m.details, now().0 as i64)
                        .await?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The mark on a cancelled duty slot's meeting title.
const CANCELLED: &str = "（已取消）";

/// Create a duty slot's room (a lecture: the public asks, moderated, the member answers)
/// with its preparation, unless it exists.
async fn ensure_duty_room(state: &AppState, v: &DutyView) -> Result<(), ApiError> {
    if state.store.room(&v.room).await?.is_some() {
        return Ok(());
    }
    let details = MeetingDetails {
        starts_at: v.starts_at.0 as i64,
        ends_at: v.ends_at.0 as i64,
        place: "委员网上工作室".into(),
        description: format!("{}委员会客时间 · {}", v.studio_name, v.title),
        agenda: Vec::new(),
        venues: Vec::new(),
        livestream: false,
    };
    let title = format!("{} 会客时间：{}", v.studio_name, v.title);
    let made = super::meetings::create_meeting_as(
        state,
        &v.room,
        &title,
        RoomKind::Lecture,
        &details,
        None,
    )
    .await;
    match made {
        // Another request may have made it at the same moment.
        Err(e) if state.store.room(&v.room).await?.is_none() => Err(e),
        _ => Ok(()),
    }
}

/// Slot `slot` of studio `member` if its room is open now (and the room made if it is
/// not yet); `409 invalid_state` before the room opens, after the end or once cancelled.
async fn open_duty(state: &AppState, member: i64, slot: u32) -> Result<DutyView, ApiError> {
    let view = state
        .board
        .read(|b| b.open_duty(MemberId(member), SlotId(slot), now()))
        .await
        .map_err(BoardError::Refused)?;
    ensure_duty_room(state, &view).await?;
    Ok(view)
}

/// A link for `claims` into a duty room, valid from its opening to its end.
fn duty_link(state: &AppState, v: &DutyView, mut claims: Claims) -> Response {
    claims.nbf = Some(v.opens_at.0 / 1000);
    claims.exp = v.ends_at.0.div_ceil(1000);
    let link = state
        .config
        .join_link(&v.room, &state.config.auth.token_keys.mint(&claims));
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "link": link, "slot": v })),
    )
        .into_response()
}

/// 进入会客室: the anonymous audience link of an open duty room, for anyone. Refused
/// before the room opens: the page's button is not the only guard.
async fn duty_audience(
    State(state): State<AppState>,
    Path((member, slot)): Path<(i64, u32)>,
) -> Result<Response, ApiError> {
    let v = open_duty(&state, member, slot).await?;
    let claims = Claims::audience_link(&v.room, now(), std::time::Duration::from_secs(60));
    Ok(duty_link(&state, &v, claims))
}

/// 主持会客: a host link for the studio's own member (their board token), while the
/// room is open.
async fn duty_host(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((member, slot)): Path<(i64, u32)>,
) -> Result<Response, ApiError> {
    let actor = resident(&state, &headers)?;
    let own = matches!(&actor, Actor::Member { identity, .. } if *identity == MemberId(member).identity());
    if !own {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the studio's member hosts its duty slots".into(),
        ));
    }
    let v = open_duty(&state, member, slot).await?;
    let host = Participant::new(actor.identity().0, actor.name(), Role::Host);
    let claims = Claims::new(&v.room, &host, now(), std::time::Duration::from_secs(60));
    Ok(duty_link(&state, &v, claims))
}

/// Every duty slot not ended yet, earliest first (staff).
async fn staff_duty(State(state): State<AppState>, _: Caller) -> Json<Value> {
    let slots = state.board.read(|b| b.duty_slots(None, now())).await;
    Json(json!({ "slots": slots }))
}

/// The 社情民意 items, newest first, each with its message and sender (staff).
async fn reports(State(state): State<AppState>, _: Caller) -> Json<Value> {
    Json(json!({ "reports": state.board.read(Board::reports).await }))
}
