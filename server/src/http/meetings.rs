//! Meetings prepared in the console under `/api/v1/meetings`, for staff (admins and
//! clerks, by session with its CSRF token) and the admin key: a meeting is a room plus
//! its preparation (time, place, description, agenda items, venues) and the people
//! invited to it from the roster, each with a link of their own.
//!
//! A person's link is a join token minted from what the store keeps for them (its `jti`
//! and times), so no token is stored and the same link is shown each time. It is valid
//! from a day before the start until 12 hours after the end (within the server's longest
//! token lifetime). Re-issuing (作废并重发) revokes the old token — it is refused at
//! hello with `token_revoked` — and gives the person a new one; removing a person revokes
//! theirs too. Revoked token ids are kept in the store and loaded at start.
//!
//! A meeting is `scheduled` until its session is opened (`live`), then `closed` when its
//! room is; it can be edited only while scheduled (409 `meeting_started` after). The
//! agenda is pushed into the room when the host view is first opened from the console
//! (`POST /meetings/{id}/host`) while the room has no agenda yet.
//!
//! Changes by staff go to the audit log. Documented in `docs/api.md` and
//! `docs/console.md`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use yishi_protocol::{Command, EventBody, Role, SettingsPatch};

use super::AppState;
use super::admin::ApiError;
use super::console::Caller;
use crate::auth::{Claims, random_base32};
use crate::hub::now;
use crate::store::{
    AgendaEntry, Invitee, MeetingDetails, NewRoom, RoomKind, StoredMeeting, StoredRoom, VenueEntry,
};

/// A link is valid from this long before the start…
const LINK_BEFORE_S: i64 = 24 * 3600;
/// …until this long after the end.
const LINK_AFTER_S: i64 = 12 * 3600;
/// A meeting without an end time is taken to last this long.
const DEFAULT_LENGTH_MS: i64 = 3 * 3600 * 1000;
/// The most agenda items, venues and invitees a meeting may have.
const MAX_ITEMS: usize = 100;
const MAX_INVITEES: usize = 2000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{id}", get(show).put(edit))
        .route("/{id}/duplicate", post(duplicate))
        .route("/{id}/host", post(host))
        .route("/{id}/invitees", post(invite))
        .route("/{id}/invitees/{who}", axum::routing::delete(uninvite))
        .route("/{id}/invitees/{who}/reissue", post(reissue))
        .route("/{id}/invitees/{who}/qr.svg", get(qr))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_argument", message.into())
}

fn no_meeting(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no meeting {id}"),
    )
}

/// Where a meeting is: `scheduled`, `live` or `closed`.
async fn status(state: &AppState, room: &StoredRoom) -> Result<&'static str, ApiError> {
    Ok(if room.closed_at.is_some() {
        "closed"
    } else if state.store.session_opened(&room.id).await? {
        "live"
    } else {
        "scheduled"
    })
}

/// A meeting (room and preparation) as the API shows it, without its invitees.
fn summary(room: &StoredRoom, meeting: Option<&StoredMeeting>, status: &str) -> Value {
    let d = meeting.map(|m| &m.details);
    json!({
        "id": room.id,
        "title": room.title,
        "kind": room.kind.as_str(),
        "status": status,
        "created_at": room.created_at.0,
        "closed_at": room.closed_at.map(|m| m.0),
        "prepared": meeting.is_some(),
        "starts_at": d.map(|d| d.starts_at),
        "ends_at": d.map(|d| d.ends_at),
        "place": d.map(|d| d.place.as_str()).unwrap_or_default(),
        "description": d.map(|d| d.description.as_str()).unwrap_or_default(),
        "agenda": d.map(|d| d.agenda.clone()).unwrap_or_default(),
        "venues": d.map(|d| d.venues.clone()).unwrap_or_default(),
        "livestream": d.is_some_and(|d| d.livestream),
        "copied_from": meeting.and_then(|m| m.copied_from.clone()),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    /// `scheduled`, `live` or `closed`.
    status: Option<String>,
}

/// Every room, with its preparation where it has one: newest start (or creation) first.
async fn list(
    State(state): State<AppState>,
    _: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rooms = state.store.list_rooms().await?;
    let meetings = state.store.meetings().await?;
    let live = state.store.live_rooms().await?;
    let q = query.q.as_deref().map(str::trim).unwrap_or_default();
    let mut shown: Vec<(i64, Value)> = Vec::new();
    for room in &rooms {
        let meeting = meetings.iter().find(|m| m.room_id == room.id);
        let status = if room.closed_at.is_some() {
            "closed"
        } else if live.contains(&room.id) {
            "live"
        } else {
            "scheduled"
        };
        if query.status.as_deref().is_some_and(|s| s != status) {
            continue;
        }
        let place = meeting.map(|m| m.details.place.as_str()).unwrap_or("");
        if !q.is_empty() && !room.title.contains(q) && !room.id.contains(q) && !place.contains(q) {
            continue;
        }
        let key = meeting.map_or(room.created_at.0 as i64, |m| m.details.starts_at);
        shown.push((key, summary(room, meeting, status)));
    }
    shown.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
    Ok(Json(
        json!({ "meetings": shown.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
struct AgendaIn {
    title: String,
    #[serde(default)]
    limit_s: u32,
}

#[derive(Deserialize)]
struct VenueIn {
    name: String,
    #[serde(default)]
    contact: String,
}

#[derive(Deserialize)]
struct MeetingIn {
    title: String,
    #[serde(default)]
    kind: Option<String>,
    /// Milliseconds since the epoch.
    starts_at: i64,
    #[serde(default)]
    ends_at: Option<i64>,
    #[serde(default)]
    place: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    agenda: Vec<AgendaIn>,
    #[serde(default)]
    venues: Vec<VenueIn>,
    /// Start the livestream when the session opens.
    #[serde(default)]
    livestream: bool,
}

/// Text trimmed and at most `max` characters, or why not.
fn text(what: &str, value: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(bad(format!("{what} is needed")));
    }
    if value.chars().count() > max || value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad(format!(
            "{what} has at most {max} characters and no control characters"
        )));
    }
    Ok(value.to_owned())
}

/// The title and details of a meeting as given, checked.
fn checked(body: &MeetingIn) -> Result<(String, MeetingDetails), ApiError> {
    let title = text("a title", &body.title, 200, true)?;
    if body.starts_at <= 0 {
        return Err(bad("a start time is needed"));
    }
    let ends_at = body
        .ends_at
        .unwrap_or(body.starts_at.saturating_add(DEFAULT_LENGTH_MS));
    if ends_at <= body.starts_at {
        return Err(bad("the end is after the start"));
    }
    if body.agenda.len() > MAX_ITEMS || body.venues.len() > MAX_ITEMS {
        return Err(bad(format!(
            "at most {MAX_ITEMS} agenda items and {MAX_ITEMS} venues"
        )));
    }
    let agenda = body
        .agenda
        .iter()
        .map(|a| {
            if a.limit_s > 3600 {
                return Err(bad("a speaking time is at most 3600 seconds"));
            }
            Ok(AgendaEntry {
                title: text("an agenda item's title", &a.title, 200, true)?,
                limit_s: a.limit_s,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let venues = body
        .venues
        .iter()
        .map(|v| {
            Ok(VenueEntry {
                name: text("a venue's name", &v.name, 64, true)?,
                contact: text("a venue's contact", &v.contact, 100, false)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok((
        title,
        MeetingDetails {
            starts_at: body.starts_at,
            ends_at,
            place: text("the place", &body.place, 200, false)?,
            description: text("the description", &body.description, 4000, false)?,
            agenda,
            venues,
            livestream: body.livestream,
        },
    ))
}

fn kind_of(kind: Option<&str>) -> Result<RoomKind, ApiError> {
    match kind {
        None | Some("consultation") => Ok(RoomKind::Consultation),
        Some("lecture") => Ok(RoomKind::Lecture),
        Some(_) => Err(bad("kind is `consultation` or `lecture`")),
    }
}

/// Create a room and its preparation; the room's id.
pub(super) async fn create_meeting(
    state: &AppState,
    title: &str,
    kind: RoomKind,
    details: &MeetingDetails,
    copied_from: Option<&str>,
) -> Result<String, ApiError> {
    let id = random_base32(&mut rand::rng(), 10);
    create_meeting_as(state, &id, title, kind, details, copied_from).await?;
    Ok(id)
}

/// Create room `id` and its preparation, so that it is listed with the meetings: also
/// for a studio's duty slot (会客时间, `http/board.rs`), whose room id the board names.
pub(super) async fn create_meeting_as(
    state: &AppState,
    id: &str,
    title: &str,
    kind: RoomKind,
    details: &MeetingDetails,
    copied_from: Option<&str>,
) -> Result<(), ApiError> {
    let at = now();
    state
        .store
        .create_room(&NewRoom {
            id: id.to_owned(),
            title: title.to_owned(),
            kind,
            created_at: at,
            settings: json!({}),
        })
        .await?;
    state
        .store
        .create_meeting(id, details, copied_from, at.0 as i64)
        .await?;
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    actor: Caller,
    Json(body): Json<MeetingIn>,
) -> Result<Response, ApiError> {
    let (title, details) = checked(&body)?;
    let kind = kind_of(body.kind.as_deref())?;
    let id = create_meeting(&state, &title, kind, &details, None).await?;
    actor
        .audit(&state, "POST /api/v1/meetings", &format!("{id} {title}"))
        .await?;
    let shown = full(&state, &id).await?;
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// The room and its preparation, or 404.
async fn find(state: &AppState, id: &str) -> Result<(StoredRoom, StoredMeeting), ApiError> {
    let room = state.store.room(id).await?.ok_or_else(|| no_meeting(id))?;
    let meeting = state
        .store
        .meeting(id)
        .await?
        .ok_or_else(|| no_meeting(id))?;
    Ok((room, meeting))
}

/// The claims of an invitee's current link.
fn claims_of(p: &Invitee) -> Result<Claims, ApiError> {
    let role: Role = serde_json::from_value(json!(p.role)).map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("stored role {:?}", p.role),
        )
    })?;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(Claims {
        room: p.room_id.clone(),
        sub: p.participant.clone(),
        name: p.name.clone(),
        role,
        grants: None,
        sector: nonempty(&p.sector),
        venue: nonempty(&p.venue),
        exp: p.expires_at.max(0) as u64,
        iat: p.issued_at.max(0) as u64,
        nbf: Some(p.not_before.max(0) as u64),
        jti: p.jti.clone(),
    })
}

/// An invitee's link.
fn link_of(state: &AppState, p: &Invitee) -> Result<String, ApiError> {
    let claims = claims_of(p)?;
    let token = state.config.auth.token_keys.mint(&claims);
    Ok(state.config.join_link(&p.room_id, &token))
}

fn invitee_json(state: &AppState, p: &Invitee) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(p)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    v["link"] = json!(link_of(state, p)?);
    v["qr"] = json!(format!(
        "/api/v1/meetings/{}/invitees/{}/qr.svg",
        p.room_id, p.id
    ));
    Ok(v)
}

/// A meeting with its invitees and their links; for a lecture also its anonymous
/// audience link and a snippet to embed it.
pub(super) async fn full(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let (room, meeting) = find(state, id).await?;
    let status = status(state, &room).await?;
    let mut v = summary(&room, Some(&meeting), status);
    let invitees = state.store.invitees(id).await?;
    v["invitees"] = Value::Array(
        invitees
            .iter()
            .map(|p| invitee_json(state, p))
            .collect::<Result<Vec<_>, _>>()?,
    );
    v["recordings"] = recordings(state, id).await?;
    if room.kind == RoomKind::Lecture {
        let (iat, nbf, exp) = window(state, &meeting.details);
        let mut claims = Claims::audience_link(id, now(), std::time::Duration::from_secs(60));
        claims.iat = iat;
        claims.nbf = Some(nbf);
        claims.exp = exp;
        let link = state
            .config
            .join_link(id, &state.config.auth.token_keys.mint(&claims));
        let escaped = link.replace('&', "&amp;").replace('"', "&quot;");
        v["audience_link"] = json!(link);
        v["embed"] = json!(format!(
            "<iframe src=\"{escaped}\" width=\"960\" height=\"600\" allow=\"autoplay; fullscreen\" style=\"border:0\" title=\"{}\"></iframe>",
            room.title
                .replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
        ));
    }
    Ok(v)
}

/// The recordings of the meeting's livestream that its record names (archived when each
/// stream ended, newest last): file, size, SHA-256, when, and where staff download it.
async fn recordings(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let entries = state
        .store
        .entries_of_type(id, "recording_archived")
        .await?;
    Ok(entries
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::RecordingArchived { recording } => Some(json!({
                "file": recording.file,
                "bytes": recording.bytes,
                "sha256": recording.sha256,
                "at": e.event.at.0,
                "seq": e.event.seq,
                "url": format!("/live/{id}/recordings/{}", recording.file),
            })),
            _ => None,
        })
        .collect())
}

/// A link's `iat`, `nbf` and `exp` (seconds) for a meeting: from a day before the start
/// to 12 hours after the end, shortened at the start to the longest lifetime allowed.
fn window(state: &AppState, d: &MeetingDetails) -> (u64, u64, u64) {
    let exp = (d.ends_at / 1000).saturating_add(LINK_AFTER_S).max(0) as u64;
    let max = state.config.auth.token_keys.max_lifetime().as_secs();
    let from = ((d.starts_at / 1000).saturating_sub(LINK_BEFORE_S)).max(0) as u64;
    let from = from.max(exp.saturating_sub(max));
    (from, from, exp)
}

async fn show(
    State(state): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(full(&state, &id).await?))
}

/// A new link (id and times) for `p` in a meeting with `details`.
fn new_link(state: &AppState, p: &Invitee, details: &MeetingDetails, serial: i64) -> Invitee {
    let (iat, nbf, exp) = window(state, details);
    Invitee {
        jti: random_base32(&mut rand::rng(), 16),
        serial,
        issued_at: iat as i64,
        not_before: nbf as i64,
        expires_at: exp as i64,
        ..p.clone()
    }
}

async fn edit(
    State(state): State<AppState>,
    actor: Caller,
    Path(id): Path<String>,
    Json(body): Json<MeetingIn>,
) -> Result<Json<Value>, ApiError> {
    let (room, meeting) = find(&state, &id).await?;
    if status(&state, &room).await? != "scheduled" {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "meeting_started",
            "this meeting has opened and can no longer be edited; duplicate it to prepare another"
                .into(),
        ));
    }
    let (title, details) = checked(&body)?;
    if body.kind.is_some() && kind_of(body.kind.as_deref())? != room.kind {
        return Err(bad("a meeting's kind cannot change; create another"));
    }
    let at = now().0 as i64;
    state
        .store
        .update_meeting(&id, &title, &details, at)
        .await?;
    // Moved: the links' times follow (same token ids, so nothing is revoked).
    if (details.starts_at, details.ends_at) != (meeting.details.starts_at, meeting.details.ends_at)
    {
        for p in state.store.invitees(&id).await? {
            let (iat, nbf, exp) = window(&state, &details);
            let next = Invitee {
                issued_at: iat as i64,
                not_before: nbf as i64,
                expires_at: exp as i64,
                ..p.clone()
            };
            state.store.replace_link(&p, &next, false, at).await?;
        }
    }
    actor
        .audit(&state, &format!("PUT /api/v1/meetings/{id}"), &title)
        .await?;
    Ok(Json(full(&state, &id).await?))
}

#[derive(Deserialize, Default)]
struct DuplicateIn {
    /// The new start (milliseconds); default: a week after the original's.
    starts_at: Option<i64>,
    title: Option<String>,
}

async fn duplicate(
    State(state): State<AppState>,
    actor: Caller,
    Path(id): Path<String>,
    body: Option<Json<DuplicateIn>>,
) -> Result<Response, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let (room, meeting) = find(&state, &id).await?;
    let mut details = meeting.details.clone();
    let length = details.ends_at - details.starts_at;
    details.starts_at = body
        .starts_at
        .unwrap_or(details.starts_at.saturating_add(7 * 86_400_000));
    details.ends_at = details.starts_at.saturating_add(length);
    let title = match body.title {
        Some(t) => text("a title", &t, 200, true)?,
        None => room.title.clone(),
    };
    let copy = create_meeting(&state, &title, room.kind, &details, Some(&id)).await?;
    let people: Vec<Invitee> = state
        .store
        .invitees(&id)
        .await?
        .iter()
        .map(|p| {
            let mut p = new_link(&state, p, &details, 1);
            p.room_id = copy.clone();
            p
        })
        .collect();
    state.store.add_invitees(&people).await?;
    actor
        .audit(
            &state,
            &format!("POST /api/v1/meetings/{id}/duplicate"),
            &copy,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(full(&state, &copy).await?)).into_response())
}

#[derive(Deserialize)]
struct InviteIn {
    /// Roster members by id, each with a role.
    #[serde(default)]
    members: Vec<MemberInvite>,
    /// People not in the roster (a venue account, a department head), by name.
    #[serde(default)]
    people: Vec<PersonInvite>,
}

#[derive(Deserialize)]
struct MemberInvite {
    id: i64,
    #[serde(default = "member_role")]
    role: String,
}

#[derive(Deserialize)]
struct PersonInvite {
    name: String,
    role: String,
    #[serde(default)]
    sector: String,
    #[serde(default)]
    venue: String,
}

fn member_role() -> String {
    "member".into()
}

/// A role one may be invited with.
fn invite_role(role: &str) -> Result<String, ApiError> {
    match role {
        "member" | "respondent" | "host" | "recorder" | "venue" => Ok(role.to_owned()),
        other => Err(bad(format!(
            "a role is member, respondent, host, recorder or venue, not {other:?}"
        ))),
    }
}

async fn invite(
    State(state): State<AppState>,
    actor: Caller,
    Path(id): Path<String>,
    Json(body): Json<InviteIn>,
) -> Result<Json<Value>, ApiError> {
    let (room, meeting) = find(&state, &id).await?;
    if room.closed_at.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "meeting_closed",
            "this meeting is closed".into(),
        ));
    }
    if body.members.len() + body.people.len() > MAX_INVITEES {
        return Err(bad(format!("at most {MAX_INVITEES} people at once")));
    }
    let roster = state.store.list_members(None).await?;
    let mut people = Vec::new();
    let template = |member_id, participant: String, name: String, sector, venue, role| Invitee {
        id: 0,
        room_id: id.clone(),
        member_id,
        participant,
        name,
        sector,
        venue,
        role,
        jti: String::new(),
        serial: 1,
        issued_at: 0,
        not_before: 0,
        expires_at: 0,
    };
    for m in &body.members {
        let member = roster
            .iter()
            .find(|r| r.id == m.id)
            .ok_or_else(|| bad(format!("no member {} in the roster", m.id)))?;
        let p = template(
            Some(member.id),
            format!("m-{}", member.id),
            member.name.clone(),
            member.sector.clone(),
            member.venue.clone(),
            invite_role(&m.role)?,
        );
        people.push(new_link(&state, &p, &meeting.details, 1));
    }
    for person in &body.people {
        let p = template(
            None,
            format!("p-{}", random_base32(&mut rand::rng(), 12)),
            text("a name", &person.name, 64, true)?,
            text("a sector", &person.sector, 64, false)?,
            text("a venue", &person.venue, 64, false)?,
            invite_role(&person.role)?,
        );
        people.push(new_link(&state, &p, &meeting.details, 1));
    }
    for p in &people {
        state
            .config
            .auth
            .token_keys
            .check(&claims_of(p)?)
            .map_err(|e| bad(e.to_string()))?;
    }
    let added = state.store.add_invitees(&people).await?;
    actor
        .audit(
            &state,
            &format!("POST /api/v1/meetings/{id}/invitees"),
            &format!("{added} added"),
        )
        .await?;
    let mut v = full(&state, &id).await?;
    v["added"] = json!(added);
    Ok(Json(v))
}

/// An invitee of a meeting, or 404.
async fn find_invitee(state: &AppState, id: &str, who: i64) -> Result<Invitee, ApiError> {
    state.store.invitee(id, who).await?.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no invitee {who} in meeting {id}"),
        )
    })
}

async fn uninvite(
    State(state): State<AppState>,
    actor: Caller,
    Path((id, who)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let p = find_invitee(&state, &id, who).await?;
    state.store.remove_invitee(&p, now().0 as i64).await?;
    state.config.auth.token_keys.revoke(&p.jti);
    actor
        .audit(
            &state,
            &format!("DELETE /api/v1/meetings/{id}/invitees/{who}"),
            &p.name,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a person's link and give them a new one (作废并重发).
async fn reissue(
    State(state): State<AppState>,
    actor: Caller,
    Path((id, who)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let (_, meeting) = find(&state, &id).await?;
    let p = find_invitee(&state, &id, who).await?;
    let next = new_link(&state, &p, &meeting.details, p.serial + 1);
    let now_ms = now().0 as i64;
    let stored = state
        .store
        .replace_link(&p, &next, true, now_ms)
        .await?
        .ok_or_else(|| no_meeting(&id))?;
    state.config.auth.token_keys.revoke(&p.jti);
    actor
        .audit(
            &state,
            &format!("POST /api/v1/meetings/{id}/invitees/{who}/reissue"),
            &p.name,
        )
        .await?;
    Ok(Json(invitee_json(&state, &stored)?))
}

/// A person's link as a QR code (SVG).
async fn qr(
    State(state): State<AppState>,
    _: Caller,
    Path((id, who)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let p = find_invitee(&state, &id, who).await?;
    let link = link_of(&state, &p)?;
    super::qr_svg(&link, "no-store")
}

/// A host link for the staff member who opens the host view, and the agenda pushed into
/// the room if it has none yet (and the meeting has not opened).
async fn host(
    State(state): State<AppState>,
    actor: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (room, meeting) = find(&state, &id).await?;
    if room.closed_at.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "meeting_closed",
            "this meeting is closed".into(),
        ));
    }
    if let Some(snapshot) = state.hub.inspect(&id).await?
        && snapshot.agenda.is_empty()
        && snapshot.session == yishi_protocol::SessionState::Scheduled
    {
        for item in &meeting.details.agenda {
            let settings = if item.limit_s > 0 {
                let mut limits = snapshot.settings.limits;
                limits.scheduled_s = item.limit_s;
                limits.impromptu_s = item.limit_s;
                SettingsPatch {
                    limits: Some(limits),
                    ..SettingsPatch::default()
                }
            } else {
                SettingsPatch::default()
            };
            let command = Command::AddAgendaItem {
                title: item.title.clone(),
                settings,
            };
            if let Err(e) = state.hub.admin(&id, command).await? {
                return Err(ApiError(StatusCode::CONFLICT, e.code.as_str(), e.message));
            }
        }
    }
    let name = if actor.staff {
        actor.name.clone()
    } else {
        "主持人".to_owned()
    };
    let host = yishi_protocol::Participant::new(
        format!("staff-{}", random_base32(&mut rand::rng(), 8)),
        name,
        Role::Host,
    );
    let claims = Claims::new(&id, &host, now(), std::time::Duration::from_secs(12 * 3600));
    let link = state
        .config
        .join_link(&id, &state.config.auth.token_keys.mint(&claims));
    actor
        .audit(&state, &format!("POST /api/v1/meetings/{id}/host"), "")
        .await?;
    Ok(Json(json!({ "link": link })))
}
