//! `--demo`: a demo consultation and a demo lecture, with links to try them.

use std::time::Duration;

use yishi_protocol::{Participant, Role};

use super::AppState;
use crate::auth::Claims;
use crate::hub::now;
use crate::store::{NewRoom, RoomKind};

/// Create the demo rooms if they are not there, and print a host link, two member links
/// and an audience link.
pub async fn create(state: &AppState) -> anyhow::Result<()> {
    let config = &state.config;
    let rooms = [
        (
            "demo-consultation",
            "演示：社区养老服务专题协商会",
            RoomKind::Consultation,
        ),
        ("demo-lecture", "演示：委员讲堂", RoomKind::Lecture),
    ];
    for (id, title, kind) in rooms {
        if state.store.room(id).await?.is_none() {
            let room = NewRoom {
                id: id.into(),
                title: title.into(),
                kind,
                created_at: now(),
                settings: serde_json::json!({}),
            };
            state.store.create_room(&room).await?;
        }
    }
    let ttl = Duration::from_secs(7 * 24 * 3600);
    let link = |room: &str, p: &Participant| {
        config.join_link(
            room,
            &config.token_keys.mint(&Claims::new(room, p, now(), ttl)),
        )
    };
    let host = Participant::new("demo-host", "主持人", Role::Host);
    let m1 = Participant::new("demo-m1", "张委员", Role::Member)
        .with_sector("经济界")
        .with_venue("主会场");
    let m2 = Participant::new("demo-m2", "李委员", Role::Member)
        .with_sector("教育界")
        .with_venue("东区分会场");
    let audience = config.join_link(
        "demo-lecture",
        &config
            .token_keys
            .mint(&Claims::audience_link("demo-lecture", now(), ttl)),
    );
    println!("\nDemo rooms are ready. Open these links (valid 7 days):");
    println!("  host 主持人:      {}", link("demo-consultation", &host));
    println!("  member 张委员:    {}", link("demo-consultation", &m1));
    println!("  member 李委员:    {}", link("demo-consultation", &m2));
    println!("  audience 观众:    {audience}\n");
    Ok(())
}
