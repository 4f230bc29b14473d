//! The board (码上议事) over HTTP, under `/api/v1/board`: the public list, search and
//! topic pages; residents' and members' commands and feeds; the staff's commands and
//! views through the console's [`Caller`] (a session with its CSRF token, or the admin
//! key), each staff command audited. Documented in `docs/board.md`.
//!
//! The shell around the pure engine: one [`Board`] in memory, replayed from the store at
//! start; a command is decided on a copy, its events sealed into the hash chain and
//! committed with the search index changes they cause, and only then does the copy
//! become the board (durability before visibility).
//!
//! Who a resident is: a board token (the join-token JWT, signed with the server's token
//! keys) in the `yishi_resident` cookie or as a bearer token. `POST /identity` with a
//! display name mints one for room `board-guest` (an unverified resident `res-…`);
//! with a token minted by the committee's platform for room `board` it is kept as is
//! (a verified resident, or a member for role `member`). A meeting's join token with
//! role `host` or `recorder` acts as that meeting's chair or recorder (its opinions).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use yishi_protocol::{Participant, Role};

use super::AppState;
use super::admin::ApiError;
use super::console::{Caller, cookie};
use crate::auth::{Claims, random_base32};
use crate::board::{
    Actor, Board, Chain, Command, Day, ErrorCode, Event, Filter, Identity, MemberId, PresidingRole,
    Rejection, Stage, TopicId, verify_chain,
};
use crate::hub::now;
use crate::staff::StaffRole;
use crate::store::{AgendaEntry, SearchDoc, Store, StoreError, StoreResult};

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

/// The board in memory and its chain's head.
struct Live {
    board: Board,
    chain: Chain,
}

/// The board of this server, and the limits on who writes to it.
pub struct BoardHost {
    /// A Tokio mutex: a command holds it across the store's commit, so that commands are
    /// decided and committed one at a time in record order.
    live: Mutex<Live>,
    identities: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    /// False when the limits are lifted for a load test (`--no-board-rate-limits`).
    limited: bool,
}

/// Why a board command failed.
pub enum BoardError {
    Refused(Rejection),
    Store(StoreError),
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
            BoardError::Store(e) => e.into(),
        }
    }
}

impl BoardHost {
    /// Replay the board's record from the store, checking its chain.
    /// `limited`: whether the rate limits apply (see [`BoardHost::over_limit`]).
    pub async fn load(store: &Store, limited: bool) -> StoreResult<BoardHost> {
        let entries = store.board_load().await?;
        let head = verify_chain(&entries).map_err(|seq| {
            StoreError::Corrupt(format!("the board's record breaks at entry {seq}"))
        })?;
        let board = Board::replay(entries.iter().map(|e| &e.event));
        tracing::info!(events = entries.len(), "board replayed");
        Ok(BoardHost {
            live: Mutex::new(Live {
                board,
                chain: Chain::resume(&head).unwrap_or_default(),
            }),
            identities: RateLimiter::keyed(IDENTITY_QUOTA),
            addresses: RateLimiter::keyed(ADDRESS_QUOTA),
            limited,
        })
    }

    /// Whether a request from `ip` is over the limits: a command (with its sender's
    /// `identity`) or a new identity (without). Never when the limits are lifted.
    fn over_limit(&self, ip: &IpAddr, identity: Option<&str>) -> bool {
        self.limited
            && (self.addresses.check_key(ip).is_err()
                || identity.is_some_and(|id| self.identities.check_key(&id.to_owned()).is_err()))
    }

    /// Decide `command` on the latest board, commit its events and index changes, then
    /// show them. Another writer on the same store (a second node) that commits between
    /// the catch-up and the commit makes it conflict: the board catches up again and
    /// decides again, once.
    pub async fn apply(
        &self,
        store: &Store,
        actor: &Actor,
        command: &Command,
    ) -> Result<Vec<Event>, BoardError> {
        let mut live = self.live.lock().await;
        // Decide on the latest board: another server may have appended since (one
        // look-up by primary key, empty nearly always).
        catch_up(&mut live, store)
            .await
            .map_err(BoardError::Store)?;
        for attempt in 0..2 {
            let mut next = live.board.clone();
            let events = next
                .apply(actor, command, now())
                .map_err(BoardError::Refused)?;
            let mut chain = live.chain.clone();
            let entries: Vec<_> = events.iter().cloned().map(|e| chain.seal(e)).collect();
            let mut touched: Vec<TopicId> = events
                .iter()
                .flat_map(|e| e.body.touched_topics())
                .collect();
            touched.sort();
            touched.dedup();
            let docs: Vec<SearchDoc> = touched
                .into_iter()
                .map(|topic| SearchDoc {
                    topic,
                    text: next
                        .searchable(topic)
                        .map(|(t, b)| (t.to_owned(), b.to_owned())),
                })
                .collect();
            match store.board_append(&entries, &docs).await {
                Ok(()) => {
                    *live = Live { board: next, chain };
                    return Ok(events);
                }
                Err(
                    StoreError::Conflict
                    | StoreError::OutOfOrder { .. }
                    | StoreError::BrokenLink { .. },
                ) if attempt == 0 => {
                    catch_up(&mut live, store)
                        .await
                        .map_err(BoardError::Store)?;
                }
                Err(e) => return Err(BoardError::Store(e)),
            }
        }
        Err(BoardError::Store(StoreError::Conflict))
    }

    /// Read the board.
    pub async fn read<T>(&self, f: impl FnOnce(&Board) -> T) -> T {
        f(&self.live.lock().await.board)
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
                if let Err(e) = catch_up(&mut *self.live.lock().await, &store).await {
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

/// How often a server folds what others appended to the board.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Fold the entries the store has after the board's last one (written by another
/// server on the same store), checking that they continue its chain.
async fn catch_up(live: &mut Live, store: &Store) -> StoreResult<()> {
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
    Ok(())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/topics", get(list))
        .route("/topics/{id}", get(page))
        .route("/identity", post(identity))
        .route("/commands", post(command))
        .route("/feed", get(feed))
        .route("/staff/commands", post(staff_command))
        .route("/staff/queue", get(queue))
        .route("/staff/shortlist", get(shortlist))
        .route("/staff/review", get(review))
        .route("/studios", get(studios))
        .route("/studios/{member}", get(studio))
        .route("/studios/{member}/qr.svg", get(studio_qr))
        .route("/staff/overdue", get(overdue))
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
    let mut value = json!(page);
    if let Some(mine) = mine {
        value["me"] = mine;
    }
    Ok(Json(value))
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
    let ip = super::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    if state.board.over_limit(&ip, None) {
        return Err(rate_limited());
    }
    let keys = &state.config.token_keys;
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
    let secure = if state.config.public_url.starts_with("https://") {
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
    let ip = super::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    if state.board.over_limit(&ip, Some(&actor.identity().0)) {
        metrics::counter!("yishi_board_rate_limited_total").increment(1);
        return Err(rate_limited());
    }
    let events = state.board.apply(&state.store, &actor, &command).await?;
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
    let events = state.board.apply(&state.store, &actor, &command).await?;
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
    let item = format!("议题：{title}");
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

/// The members' studios (网上工作室).
async fn studios(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "studios": state.board.read(Board::studios).await }))
}

/// A studio's public page; with an identity, `me.messages`: what the caller left there,
/// whatever its state, with private replies; for the studio's own member, `me.inbox`
/// (every published message with every reply) and `me.overdue`.
async fn studio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(member): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let actor = resident(&state, &headers).ok();
    let member = MemberId(member);
    let at = now();
    let (page, mine) = state
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
            (b.studio_page(member), mine)
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
        state.config.public_url.trim_end_matches('/')
    );
    super::qr_svg(&url, "public, max-age=3600")
}
