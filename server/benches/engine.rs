//! Room engine throughput: commands per second on one core over a realistic mix.
//!
//! A lecture-sized room: 200 members and 20,000 audience members. The mix, per 20
//! commands: 8 advisory ballots, 3 comments and 1 approval, 2 questions, 1 approval and
//! 2 upvotes, 2 hand raises, 1 grant of the floor (which ends the previous turn); the room's clock is ticked before every command, as the room actor does.
//! Run: `cargo bench -p yishi-server --bench engine`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use yishi::room::{Actor, Room};
use yishi_protocol::{
    Base, Choice, Command, CommentId, Decision, EntryKind, Majority, MajorityRule, Millis,
    Participant, PollId, PollMethod, PollSpec, QuestionId, RequestId, ResultsVisibility, Role,
    YesNo,
};

const MEMBERS: usize = 200;
const AUDIENCE: usize = 20_000;
const COMMANDS: usize = 20_000;

struct Scenario {
    room: Room,
    start: Millis,
    script: Vec<(Actor, RequestId, Command)>,
}

fn scenario() -> Scenario {
    let start = Millis(1_700_000_000_000);
    let mut room = Room::new("委员讲堂");
    let host = Actor::new(Participant::new("host", "主持人", Role::Host));
    let sectors = ["经济界", "教育界", "医卫界", "农业界"];
    let members: Vec<Actor> = (0..MEMBERS)
        .map(|i| {
            Actor::new(
                Participant::new(format!("m{i}"), format!("委员{i}"), Role::Member)
                    .with_sector(sectors[i % sectors.len()])
                    .with_venue(if i % 3 == 0 { "主会场" } else { "分会场" }),
            )
        })
        .collect();
    let audience: Vec<Actor> = (0..AUDIENCE)
        .map(|i| {
            Actor::new(Participant::new(
                format!("a{i}"),
                format!("网民{i}"),
                Role::Audience,
            ))
        })
        .collect();
    room.join(&host.participant, start);
    for m in &members {
        room.join(&m.participant, start);
    }
    let mut req = 0u32;
    let mut next = || {
        req += 1;
        RequestId(format!("r{req}"))
    };
    let setup = [
        Command::StartSession,
        Command::CreatePoll {
            spec: PollSpec {
                question: "您是否赞成加快建设社区养老服务中心？".into(),
                method: PollMethod::YesNoAbstain,
                binding: true,
                advisory: true,
                secret: false,
                visibility: ResultsVisibility::Live,
                allow_change: false,
                deadline_s: None,
                quorum: None,
                majority: Majority {
                    rule: MajorityRule::Simple,
                    of: Base::Cast,
                },
            },
        },
        Command::OpenPoll { poll: PollId(1) },
    ];
    for command in setup {
        room.apply(&host, &next(), &command, start).expect("setup");
    }

    let mut script = Vec::with_capacity(COMMANDS);
    let (mut voter, mut comment, mut question, mut hand) = (0usize, 0u32, 0u32, 0usize);
    while script.len() < COMMANDS {
        for slot in 0..20 {
            let (actor, command) = match slot {
                0 | 2 | 4 | 6 | 9 | 12 | 15 | 18 => {
                    voter += 1;
                    let vote = [YesNo::Yes, YesNo::No, YesNo::Abstain][voter % 3];
                    let choice = Choice::YesNoAbstain { vote };
                    (
                        audience[voter % AUDIENCE].clone(),
                        Command::CastBallot {
                            poll: PollId(1),
                            choice,
                        },
                    )
                }
                1 | 7 | 13 => {
                    comment += 1;
                    let text = format!("建议在老旧小区增设助餐点和无障碍设施，第{comment}条意见。");
                    (
                        audience[(voter + 7) % AUDIENCE].clone(),
                        Command::PostComment { text },
                    )
                }
                3 => (
                    host.clone(),
                    Command::ModerateComment {
                        comment: CommentId(comment),
                        decision: Decision::Approve,
                    },
                ),
                5 | 11 => {
                    question += 1;
                    let text = format!("请问民政局今年的养老床位建设计划进展如何？({question})");
                    (
                        audience[(voter + 11) % AUDIENCE].clone(),
                        Command::AskQuestion { text },
                    )
                }
                8 | 14 => (
                    audience[(voter + 13) % AUDIENCE].clone(),
                    Command::Upvote {
                        question: QuestionId(question.saturating_sub(2).max(1)),
                    },
                ),
                10 | 16 => {
                    hand += 1;
                    let kind = EntryKind::Impromptu;
                    (
                        members[hand % MEMBERS].clone(),
                        Command::RequestFloor {
                            kind,
                            speaker: None,
                            replying_to: None,
                        },
                    )
                }
                17 => (
                    host.clone(),
                    Command::GrantFloor {
                        entry: None,
                        reason: None,
                    },
                ),
                _ => (
                    host.clone(),
                    Command::ModerateQuestion {
                        question: QuestionId(question),
                        decision: Decision::Approve,
                    },
                ),
            };
            script.push((actor, next(), command));
        }
    }
    script.truncate(COMMANDS);
    Scenario {
        room,
        start,
        script,
    }
}

/// Apply the script the way the room actor does: tick, then apply; time moves 1 ms per
/// command. Returns how many commands were refused (questions not yet approved cannot be
/// upvoted, for instance), so the optimiser keeps everything.
fn run(room: &mut Room, start: Millis, script: &[(Actor, RequestId, Command)]) -> usize {
    let mut refused = 0;
    for (i, (actor, req, command)) in script.iter().enumerate() {
        let now = start.plus(1 + i as u64);
        black_box(room.tick(now));
        match room.apply(actor, req, command, now) {
            Ok(applied) => {
                black_box(applied);
            }
            Err(_) => refused += 1,
        }
    }
    refused
}

fn engine(c: &mut Criterion) {
    let s = scenario();
    let mut probe = s.room.clone();
    let refused = run(&mut probe, s.start, &s.script);
    eprintln!(
        "mix: {} commands, {} refused by the rules, {} events in the record",
        s.script.len(),
        refused,
        probe.seq()
    );

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(COMMANDS as u64));
    group.sample_size(20);
    group.bench_function("realistic_mix", |b| {
        b.iter_batched_ref(
            || s.room.clone(),
            |room| run(room, s.start, &s.script),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
