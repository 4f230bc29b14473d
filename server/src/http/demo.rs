//! `--demo`: a demo consultation and a demo lecture, made afresh at each start, with a
//! link for every role to try them.
//!
//! Each start creates two new rooms (`demo-consultation-<start>`, `demo-lecture-<start>`)
//! and closes the demo rooms of earlier starts, so a demo always begins before the
//! session opens with an empty record; old links then show the closed meeting. The
//! consultation gets an agenda, and its scheduled speakers (预约发言) are put on the first
//! item's list by the demo's clerk as soon as they have joined (a host may only add
//! people known to the room).

use std::time::Duration;

use yishi_protocol::{
    Command, EntryKind, Grant, ItemId, KindLimits, Participant, ParticipantId, Role, SessionState,
    SettingsPatch,
};

use super::AppState;
use crate::auth::Claims;
use crate::hub::{RoomHandle, now};
use crate::store::{NewRoom, RoomKind};

/// Ids of demo rooms start with this.
const PREFIX: &str = "demo-";

/// How long the demo links are valid.
const TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Reset the demo rooms and print a link for every role.
pub async fn create(state: &AppState) -> anyhow::Result<()> {
    close_earlier(state).await;
    let stamp = now().0 / 1000;
    let consultation = format!("{PREFIX}consultation-{stamp}");
    let lecture = format!("{PREFIX}lecture-{stamp}");
    for (id, title, kind) in [
        (
            consultation.as_str(),
            "演示：社区养老服务专题协商会",
            RoomKind::Consultation,
        ),
        (
            lecture.as_str(),
            "演示：委员讲堂·社区养老怎么办",
            RoomKind::Lecture,
        ),
    ] {
        state
            .store
            .create_room(&NewRoom {
                id: id.into(),
                title: title.into(),
                kind,
                created_at: now(),
                settings: serde_json::json!({}),
            })
            .await?;
    }

    let host = Participant::new("demo-host", "王主席", Role::Host);
    let m1 = Participant::new("demo-m1", "张委员", Role::Member)
        .with_sector("经济界")
        .with_venue("主会场");
    let m2 = Participant::new("demo-m2", "李委员", Role::Member)
        .with_sector("教育界")
        .with_venue("东区分会场");
    let respondent = Participant::new("demo-r1", "刘局长（市民政局）", Role::Respondent);
    let venue = Participant::new("demo-v1", "东区分会场", Role::Venue).with_venue("东区分会场");
    // The hall's projector is a device of its own (another id, so it never displaces
    // the venue's own device) that only watches.
    let mut projector =
        Participant::new("demo-v1-screen", "东区分会场大屏", Role::Venue).with_venue("东区分会场");
    projector.grants = vec![Grant::Join];
    let lecturer = Participant::new("demo-lecturer", "陈委员（主讲）", Role::Host);

    let room = state.hub.room(&consultation).await?;
    prepare_consultation(&room).await?;
    tokio::spawn(add_scheduled_speakers(
        room,
        vec![m1.id.clone(), m2.id.clone()],
    ));

    let config = &state.config;
    let link = |room: &str, p: &Participant| {
        config.join_link(
            room,
            &config
                .auth
                .token_keys
                .mint(&Claims::new(room, p, now(), TTL)),
        )
    };
    let audience = |room: &str| {
        config.join_link(
            room,
            &config
                .auth
                .token_keys
                .mint(&Claims::audience_link(room, now(), TTL)),
        )
    };
    println!("\nDemo rooms, made afresh at this start (earlier demo rooms are closed).");
    println!("Open each link in its own browser or private window; valid 7 days.\n");
    println!("Consultation 协商会 ({consultation}):");
    println!(
        "  host 主持人 王主席:          {}",
        link(&consultation, &host)
    );
    println!(
        "  member 委员 张委员:          {}",
        link(&consultation, &m1)
    );
    println!(
        "  member 委员 李委员:          {}",
        link(&consultation, &m2)
    );
    println!(
        "  respondent 部门负责人 刘局长: {}",
        link(&consultation, &respondent)
    );
    println!(
        "  venue 分会场 东区:           {}",
        link(&consultation, &venue)
    );
    println!(
        "  venue projector 分会场大屏:   {}&screen=projector",
        link(&consultation, &projector)
    );
    println!("  audience 观众:               {}", audience(&consultation));
    println!("\nLecture 委员讲堂 ({lecture}):");
    println!(
        "  lecturer 主讲 (host):        {}&layout=lecture",
        link(&lecture, &lecturer)
    );
    println!(
        "  audience 观众:               {}&layout=lecture\n",
        audience(&lecture)
    );
    // The console, with an admin account whose one-time link is new at each start.
    let secret = crate::staff::invite(
        &state.store,
        DEMO_STAFF,
        crate::staff::StaffRole::Admin,
        now().0 as i64,
    )
    .await?;
    println!("Console 会务管理: set a password for the admin \"{DEMO_STAFF}\", then log in:");
    println!(
        "  {}\n",
        crate::staff::set_password_link(&config.http.public_url, &secret)
    );
    Ok(())
}

/// The demo's staff account (an admin) for the console.
const DEMO_STAFF: &str = "会务组";

/// Close the demo rooms of earlier starts that are still open.
async fn close_earlier(state: &AppState) {
    let Ok(rooms) = state.store.list_rooms().await else {
        return;
    };
    for room in rooms {
        if !room.id.starts_with(PREFIX) || room.closed_at.is_some() {
            continue;
        }
        if let Ok(handle) = state.hub.room(&room.id).await {
            match handle.admin(Command::CloseSession).await {
                Ok(_) => tracing::info!(room = %room.id, "earlier demo room closed"),
                Err(e) => {
                    tracing::warn!(room = %room.id, error = %e.message, "could not close an earlier demo room")
                }
            }
        }
    }
}

/// The consultation's time limits and agenda (议程).
async fn prepare_consultation(room: &RoomHandle) -> anyhow::Result<()> {
    let commands = [
        Command::UpdateSettings {
            item: None,
            patch: SettingsPatch {
                limits: Some(KindLimits {
                    point_of_order_s: 60,
                    interjection_s: 60,
                    reply_s: 120,
                    scheduled_s: 300,
                    impromptu_s: 180,
                }),
                warning_s: Some(30),
                ..SettingsPatch::default()
            },
        },
        Command::AddAgendaItem {
            title: "一、民政局通报全市养老服务体系建设情况".into(),
            settings: SettingsPatch::default(),
        },
        Command::AddAgendaItem {
            title: "二、委员预约发言：社区嵌入式养老".into(),
            settings: SettingsPatch::default(),
        },
        Command::AddAgendaItem {
            title: "三、即席发言与互动交流".into(),
            settings: SettingsPatch::default(),
        },
        Command::AddAgendaItem {
            title: "四、主席总结".into(),
            settings: SettingsPatch::default(),
        },
        Command::SetCurrentItem { item: ItemId(2) },
    ];
    for command in commands {
        room.admin(command)
            .await
            .map_err(|e| anyhow::anyhow!("demo agenda: {}", e.message))?;
    }
    Ok(())
}

/// Put the scheduled speakers on the current item's list, in this order, as each of
/// them is known to the room (has joined once). Stops when all are on it or the room
/// has gone.
async fn add_scheduled_speakers(room: RoomHandle, speakers: Vec<ParticipantId>) {
    let mut waiting = speakers;
    while !waiting.is_empty() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(snapshot) = room.inspect().await else {
            return;
        };
        if snapshot.session == SessionState::Closed {
            return;
        }
        let known = |id: &ParticipantId| snapshot.attendance.iter().any(|a| &a.participant == id);
        // Keep the order: the next speaker waits until the one before is on the list.
        while let Some(next) = waiting.first().filter(|id| known(id)).cloned() {
            let added = room
                .admin(Command::AddEntry {
                    participant: next,
                    kind: EntryKind::Scheduled,
                    speaker: None,
                    position: None,
                    reason: "会前确定的预约发言顺序".into(),
                })
                .await;
            if let Err(e) = added {
                tracing::warn!(error = %e.message, "demo: could not add a scheduled speaker");
            }
            waiting.remove(0);
        }
    }
}
