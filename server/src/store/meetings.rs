//! Meetings prepared in the console (see `crate::http::meetings`): a room plus its
//! preparation (time, place, description, agenda, venues), the people invited to it with
//! their per-person links, and the join tokens revoked when a link was replaced.

use serde::{Deserialize, Serialize};

use super::{Backend, Store, StoreResult};

/// One agenda item as prepared: its title and each speaker's time on it (0: the room's
/// default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaEntry {
    pub title: String,
    #[serde(default)]
    pub limit_s: u32,
}

/// A venue (分会场) and who to call there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueEntry {
    pub name: String,
    #[serde(default)]
    pub contact: String,
}

/// A meeting's preparation as given (create or edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingDetails {
    /// Milliseconds since the epoch.
    pub starts_at: i64,
    pub ends_at: i64,
    pub place: String,
    pub description: String,
    pub agenda: Vec<AgendaEntry>,
    pub venues: Vec<VenueEntry>,
    /// Start the room's livestream (直播) when its session opens.
    pub livestream: bool,
}

/// A meeting's preparation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeeting {
    pub room_id: String,
    pub details: MeetingDetails,
    /// The meeting this one was duplicated from.
    pub copied_from: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person invited to a meeting, with what their current link is minted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitee {
    pub id: i64,
    #[serde(skip)]
    pub room_id: String,
    pub member_id: Option<i64>,
    /// The participant id in the room (the token's `sub`).
    pub participant: String,
    pub name: String,
    pub sector: String,
    pub venue: String,
    /// `member`, `respondent`, `host`, `recorder` or `venue`.
    pub role: String,
    #[serde(skip)]
    pub jti: String,
    /// 1 for the first link, one more for each re-issue.
    pub serial: i64,
    /// Seconds since the epoch: the link's `iat`, `nbf` and `exp`.
    #[serde(skip)]
    pub issued_at: i64,
    pub not_before: i64,
    pub expires_at: i64,
}

type InviteeRow = (
    i64,
    String,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
);

const INVITEE_COLUMNS: &str = "id, room_id, member_id, participant, name, sector, venue, role, \
                               jti, serial, issued_at, not_before, expires_at";

fn invitee(
    (
        id,
        room_id,
        member_id,
        participant,
        name,
        sector,
        venue,
        role,
        jti,
        serial,
        issued_at,
        not_before,
        expires_at,
    ): InviteeRow,
) -> Invitee {
    Invitee {
        id,
        room_id,
        member_id,
        participant,
        name,
        sector,
        venue,
        role,
        jti,
        serial,
        issued_at,
        not_before,
        expires_at,
    }
}

type MeetingRow = (
    String,
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
);

const MEETING_COLUMNS: &str = "room_id, starts_at, ends_at, place, description, agenda, venues, \
                               copied_from, created_at, updated_at, livestream";

fn meeting(
    (
        room_id,
        starts_at,
        ends_at,
        place,
        description,
        agenda,
        venues,
        copied_from,
        created_at,
        updated_at,
        livestream,
    ): MeetingRow,
) -> StoreResult<StoredMeeting> {
    Ok(StoredMeeting {
        room_id,
        details: MeetingDetails {
            starts_at,
            ends_at,
            place,
            description,
            agenda: serde_json::from_str(&agenda)?,
            venues: serde_json::from_str(&venues)?,
            livestream: livestream != 0,
        },
        copied_from,
        created_at,
        updated_at,
    })
}

impl Store {
    /// Store a meeting's preparation for an existing room.
    pub async fn create_meeting(
        &self,
        room_id: &str,
        details: &MeetingDetails,
        copied_from: Option<&str>,
        at: i64,
    ) -> StoreResult<()> {
        let agenda = serde_json::to_string(&details.agenda)?;
        let venues = serde_json::to_string(&details.venues)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO meetings (room_id, starts_at, ends_at, place, description, agenda, \
                 venues, copied_from, created_at, updated_at, livestream) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
            )
            .bind(room_id)
            .bind(details.starts_at)
            .bind(details.ends_at)
            .bind(&details.place)
            .bind(&details.description)
            .bind(&agenda)
            .bind(&venues)
            .bind(copied_from)
            .bind(at)
            .bind(i64::from(details.livestream))
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Change a meeting's title and preparation; whether there was such a meeting.
    pub async fn update_meeting(
        &self,
        room_id: &str,
        title: &str,
        details: &MeetingDetails,
        at: i64,
    ) -> StoreResult<bool> {
        let agenda = serde_json::to_string(&details.agenda)?;
        let venues = serde_json::to_string(&details.venues)?;
        let done = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE meetings SET starts_at = $1, ends_at = $2, place = $3, description = $4, \
                 agenda = $5, venues = $6, updated_at = $7, livestream = $9 WHERE room_id = $8",
            )
            .bind(details.starts_at)
            .bind(details.ends_at)
            .bind(&details.place)
            .bind(&details.description)
            .bind(&agenda)
            .bind(&venues)
            .bind(at)
            .bind(room_id)
            .bind(i64::from(details.livestream))
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE rooms SET title = $1 WHERE id = $2")
                .bind(title)
                .bind(room_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected() > 0)
        })?;
        Ok(done)
    }

    /// A meeting's preparation, if the room has one.
    pub async fn meeting(&self, room_id: &str) -> StoreResult<Option<StoredMeeting>> {
        let row: Option<MeetingRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {MEETING_COLUMNS} FROM meetings WHERE room_id = $1"
            ))
            .bind(room_id)
            .fetch_optional(pool)
            .await
        })?;
        row.map(meeting).transpose()
    }

    /// Every meeting's preparation.
    pub async fn meetings(&self) -> StoreResult<Vec<StoredMeeting>> {
        let rows: Vec<MeetingRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!("SELECT {MEETING_COLUMNS} FROM meetings"))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(meeting).collect()
    }

    /// The rooms whose session was opened (its state changed from scheduled) and that
    /// are not closed yet.
    pub async fn live_rooms(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id FROM rooms r WHERE r.closed_at IS NULL AND EXISTS \
                 (SELECT 1 FROM events e WHERE e.room_id = r.id \
                  AND e.body LIKE '%\"type\":\"session_changed\"%')",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Whether the room's session was ever opened.
    pub async fn session_opened(&self, room_id: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT room_id FROM events WHERE room_id = $1 \
                 AND body LIKE '%\"type\":\"session_changed\"%' LIMIT 1",
            )
            .bind(room_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.is_some())
    }

    /// The people invited to a meeting, in the order they were added.
    pub async fn invitees(&self, room_id: &str) -> StoreResult<Vec<Invitee>> {
        let rows: Vec<InviteeRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {INVITEE_COLUMNS} FROM meeting_invitees WHERE room_id = $1 ORDER BY id"
            ))
            .bind(room_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(invitee).collect())
    }

    /// One invitee of a meeting.
    pub async fn invitee(&self, room_id: &str, id: i64) -> StoreResult<Option<Invitee>> {
        let row: Option<InviteeRow> = with_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {INVITEE_COLUMNS} FROM meeting_invitees WHERE room_id = $1 AND id = $2"
            ))
            .bind(room_id)
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(invitee))
    }

    /// Invite people (their `id` is ignored); one already invited (the same participant)
    /// is left as is. How many were added.
    pub async fn add_invitees(&self, people: &[Invitee]) -> StoreResult<usize> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut added = 0;
            for p in people {
                let done = sqlx::query(
                    "INSERT INTO meeting_invitees (room_id, member_id, participant, name, sector, \
                     venue, role, jti, serial, issued_at, not_before, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (room_id, participant) DO NOTHING",
                )
                .bind(&p.room_id)
                .bind(p.member_id)
                .bind(&p.participant)
                .bind(&p.name)
                .bind(&p.sector)
                .bind(&p.venue)
                .bind(&p.role)
                .bind(&p.jti)
                .bind(p.serial)
                .bind(p.issued_at)
                .bind(p.not_before)
                .bind(p.expires_at)
                .execute(&mut *tx)
                .await?;
                added += done.rows_affected() as usize;
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Give an invitee a new link (`jti` and times) and a new role, revoking the old
    /// link's token when `revoke` (a re-issue) and not when only the times changed.
    /// The invitee as it is now, if there is one.
    pub async fn replace_link(
        &self,
        current: &Invitee,
        next: &Invitee,
        revoke: bool,
        at: i64,
    ) -> StoreResult<Option<Invitee>> {
        let row: Option<InviteeRow> = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if revoke {
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, room_id, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
                )
                .bind(&current.jti)
                .bind(&current.room_id)
                .bind(current.expires_at)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            let row: Option<InviteeRow> = sqlx::query_as(&format!(
                "UPDATE meeting_invitees SET role = $1, jti = $2, serial = $3, issued_at = $4, \
                 not_before = $5, expires_at = $6 WHERE room_id = $7 AND id = $8 \
                 RETURNING {INVITEE_COLUMNS}"
            ))
            .bind(&next.role)
            .bind(&next.jti)
            .bind(next.serial)
            .bind(next.issued_at)
            .bind(next.not_before)
            .bind(next.expires_at)
            .bind(&current.room_id)
            .bind(current.id)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        })?;
        Ok(row.map(invitee))
    }

    /// Remove an invitee and revoke their link; whether there was one.
    pub async fn remove_invitee(&self, current: &Invitee, at: i64) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO revoked_tokens (jti, room_id, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(&current.jti)
            .bind(&current.room_id)
            .bind(current.expires_at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM meeting_invitees WHERE room_id = $1 AND id = $2")
                .bind(&current.room_id)
                .bind(current.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected() > 0)
        })?;
        Ok(done)
    }

    /// The ids of revoked tokens that have not expired at `now_s` (seconds since the
    /// epoch).
    pub async fn revoked_tokens(&self, now_s: i64) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE expires_at >= $1")
                .bind(now_s)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(|(jti,)| jti).collect())
    }
}
