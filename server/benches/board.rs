//! The board's (码上议事) engine at the size: 100,000 published topics and
//! 1,000,000 supports. What the server does per command: decide it on a copy of the
//! board (kept if the store commits it), so the copy's cost is in every figure; and the
//! public list's first page (all topics, and one area).
//! Run: `cargo bench -p yishi-server --bench board`.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use yishi::board::{
    Actor, Board, Command, Decision, Filter, Identity, ModerateTopic, SubmitTopic, Support, TopicId,
};
use yishi::staff::StaffRole;
use yishi_protocol::Millis;

const TOPICS: u32 = 100_000;
const SUPPORTS: u32 = 1_000_000;
const AREAS: [&str; 8] = [
    "东城街道",
    "西城街道",
    "南湖街道",
    "北苑街道",
    "新城社区",
    "老城社区",
    "滨江社区",
    "工业园",
];

fn resident(i: u32) -> Actor {
    Actor::Resident {
        identity: Identity::new(format!("r-{i}")),
        name: format!("居民{i}"),
        verified: false,
    }
}

/// The board after 100,000 topics were submitted and published and 1,000,000 supports
/// given (10 per topic on average, by 200,000 residents).
fn loaded() -> Board {
    let mut board = Board::new();
    let staff = Actor::Staff {
        name: "会务组".into(),
        role: StaffRole::Clerk,
    };
    let mut at = 1_700_000_000_000u64;
    let mut tick = || {
        at += 1;
        Millis(at)
    };
    for i in 0..TOPICS {
        let submit = Command::SubmitTopic(SubmitTopic {
            title: format!("议题{i}：小区停车难"),
            text: "老旧小区停车位不足，希望增加共享停车。".into(),
            area: AREAS[i as usize % AREAS.len()].into(),
            category: "交通".into(),
        });
        board.apply(&resident(i), &submit, tick()).unwrap();
        let publish = Command::ModerateTopic(ModerateTopic {
            topic: TopicId(i + 1),
            decision: Decision::Publish,
        });
        board.apply(&staff, &publish, tick()).unwrap();
    }
    for s in 0..SUPPORTS {
        let who = resident(s % 200_000);
        // Spread so no resident supports a topic twice.
        let topic = TopicId((s / 200_000 * 20_011 + s * 7) % TOPICS + 1);
        let _ = board.apply(&who, &Command::Support(Support { topic }), tick());
    }
    board
}

fn bench(c: &mut Criterion) {
    let board = loaded();
    let mut group = c.benchmark_group("board");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    let mut n = 0u32;
    group.bench_function("support (copy + decide)", |b| {
        b.iter_batched(
            || {
                n += 1;
                (resident(1_000_000 + n), TopicId(n % TOPICS + 1))
            },
            |(who, topic)| {
                let mut next = board.clone();
                let events = next
                    .apply(
                        &who,
                        &Command::Support(Support { topic }),
                        Millis(1_800_000_000_000),
                    )
                    .unwrap();
                black_box((next, events))
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("list first page", |b| {
        b.iter(|| black_box(board.public_topics(&Filter::default(), 0, 20)))
    });
    let one_area = Filter {
        area: Some(AREAS[3].into()),
        ..Filter::default()
    };
    group.bench_function("list one area", |b| {
        b.iter(|| black_box(board.public_topics(&one_area, 0, 20)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
