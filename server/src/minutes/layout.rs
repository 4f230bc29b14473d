//! The minutes laid out as a document: a title, sections with headings, paragraphs and
//! tables, all plain text. Markdown and DOCX render the same blocks, so both carry the
//! same facts in the same order.

use yishi_protocol::{
    Base, EndReason, EntryKind, MajorityRule, Outcome, RejectReason, Role, Tally,
};

use super::time::{duration, local_minute, local_time};
use super::{Minutes, PollMinutes};
use crate::store::RoomKind;

/// One block of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The document's title (level 1).
    Title(String),
    /// A section heading (level 2).
    Heading(String),
    /// A sub-heading (level 3), e.g. one poll.
    Subheading(String),
    Paragraph(String),
    /// A label and its value on one line: `主持人：李某`.
    Field(String, String),
    /// A value shown verbatim in a fixed-width font (a hash, a command).
    Code(String),
    Bullets(Vec<String>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// Section headings, in the order they appear.
pub const H_ATTENDANCE: &str = "出席情况";
pub const H_AGENDA: &str = "议程";
pub const H_SPEECHES: &str = "发言";
pub const H_POLLS: &str = "表决";
pub const H_QUESTIONS: &str = "提问";
pub const H_MODERATION: &str = "审核统计";
pub const H_ANNOTATIONS: &str = "记录员批注";
pub const H_VERIFICATION: &str = "记录核验";

/// The minutes as blocks.
pub fn layout(m: &Minutes) -> Vec<Block> {
    let mut out = vec![Block::Title(format!("{}　会议纪要", m.title))];
    meeting(m, &mut out);
    attendance(m, &mut out);
    if !m.agenda.is_empty() {
        agenda(m, &mut out);
    }
    speeches(m, &mut out);
    polls(m, &mut out);
    questions(m, &mut out);
    moderation(m, &mut out);
    if !m.annotations.is_empty() {
        annotations(m, &mut out);
    }
    verification(m, &mut out);
    out
}

fn field(out: &mut Vec<Block>, label: &str, value: impl Into<String>) {
    out.push(Block::Field(label.to_owned(), value.into()));
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "—".to_owned())
}

fn meeting(m: &Minutes, out: &mut Vec<Block>) {
    field(out, "会议名称", m.title.clone());
    field(
        out,
        "会议类型",
        format!("{}（{}）", kind_title(m.kind), m.kind.as_str()),
    );
    field(out, "会议编号", m.room.clone());
    if let Some(place) = &m.place {
        field(out, "地点", place.clone());
    }
    if let Some(at) = m.check_in_at {
        field(out, "签到开始", local_minute(at));
    }
    field(out, "开会时间", or_dash(m.opened_at.map(local_minute)));
    field(out, "闭会时间", or_dash(m.closed_at.map(local_minute)));
    if let (Some(open), Some(close)) = (m.opened_at, m.closed_at) {
        field(out, "会议时长", duration(close.since(open)));
    }
    field(out, "主持人", or_dash(m.chair.clone()));
    if m.pauses > 0 {
        field(out, "休会", format!("{} 次", m.pauses));
    }
    out.push(Block::Paragraph(
        "时间均为北京时间（UTC+8）。本纪要由系统根据会议的哈希链记录自动生成，未经人工改写。"
            .to_owned(),
    ));
}

/// The kind of a meeting in words: 协商议事 or 委员讲堂.
pub fn kind_title(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Consultation => "协商议事",
        RoomKind::Lecture => "委员讲堂",
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "主持人",
        Role::Member => "委员",
        Role::Respondent => "部门负责人/特邀",
        Role::Venue => "分会场",
        Role::Observer => "列席",
        Role::Recorder => "记录员",
        Role::Audience => "观众",
    }
}

fn attendance(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_ATTENDANCE.to_owned()));
    let expected: Vec<_> = m
        .attendance
        .iter()
        .filter(|a| a.expected_to_check_in())
        .collect();
    let checked = expected
        .iter()
        .filter(|a| a.checked_in_at.is_some())
        .count();
    let members = expected.iter().filter(|a| a.role == Role::Member).count();
    let members_checked = expected
        .iter()
        .filter(|a| a.role == Role::Member && a.checked_in_at.is_some())
        .count();
    out.push(Block::Paragraph(format!(
        "记录所知参会者 {} 人（不含主持人、记录员），签到 {checked} 人；其中委员 {members} 人，签到 {members_checked} 人。观众人数不计入记录。",
        expected.len()
    )));
    let absent: Vec<String> = expected
        .iter()
        .filter(|a| a.checked_in_at.is_none())
        .map(|a| format!("{}（{}）", a.name, role_name(a.role)))
        .collect();
    field(
        out,
        "未签到",
        if absent.is_empty() {
            "无".to_owned()
        } else {
            absent.join("、")
        },
    );
    // Per venue (会场): who checked in of those known there, and a venue's head count.
    let venues = m.venues();
    if !venues.is_empty() {
        let parts: Vec<String> = venues
            .iter()
            .map(|v| match v.head_count {
                Some(n) => format!(
                    "{}：签到 {}/{}，现场 {n} 人",
                    v.venue, v.checked_in, v.known
                ),
                None => format!("{}：签到 {}/{}", v.venue, v.checked_in, v.known),
            })
            .collect();
        field(out, "各会场签到", parts.join("；"));
    }
    if m.attendance.is_empty() {
        out.push(Block::Paragraph("记录中无参会者。".to_owned()));
        return;
    }
    let mut rows: Vec<Vec<String>> = m
        .attendance
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                role_name(a.role).to_owned(),
                or_dash(a.sector.clone()),
                or_dash(a.venue.clone()),
                a.checked_in_at.map_or_else(
                    || {
                        if a.expected_to_check_in() {
                            "未签到".to_owned()
                        } else {
                            "—".to_owned()
                        }
                    },
                    local_time,
                ),
                duration(a.present_ms),
            ]
        })
        .collect();
    // Grouped by venue: those without one (remote, or the hosts) first, then each venue in
    // the order its first person arrived; within a group, in the order of arrival.
    let mut seen: Vec<String> = Vec::new();
    for row in &rows {
        if row[3] != "—" && !seen.contains(&row[3]) {
            seen.push(row[3].clone());
        }
    }
    rows.sort_by_key(|row| seen.iter().position(|v| *v == row[3]).map_or(0, |i| i + 1));
    out.push(Block::Table {
        head: ["姓名", "身份", "界别", "会场", "签到时间", "在线时长"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    });
}

fn agenda(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_AGENDA.to_owned()));
    out.push(Block::Bullets(
        m.agenda
            .iter()
            .enumerate()
            .map(|(i, a)| match a.started_at {
                Some(at) => format!("{}. {}（{} 开始）", i + 1, a.title, local_time(at)),
                None => format!("{}. {}（未进行）", i + 1, a.title),
            })
            .collect(),
    ));
}

pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::PointOfOrder => "程序问题",
        EntryKind::Interjection => "插话",
        EntryKind::Reply => "回应",
        EntryKind::Scheduled => "预约发言",
        EntryKind::Impromptu => "即席发言",
    }
}

fn end_name(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Yielded => "发言人结束",
        EndReason::Host => "主持人结束",
        EndReason::TimeUp => "超时停止",
        EndReason::Dropped => "掉线结束",
        EndReason::Superseded => "主持人改请他人发言",
        EndReason::SessionClosed => "闭会时结束",
    }
}

fn speeches(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_SPEECHES.to_owned()));
    if m.speeches.is_empty() {
        out.push(Block::Paragraph("无发言记录。".to_owned()));
        return;
    }
    let total: u64 = m
        .speeches
        .iter()
        .filter_map(|s| s.spoken_ms)
        .map(u64::from)
        .sum();
    out.push(Block::Paragraph(format!(
        "共 {} 次发言，合计 {}。",
        m.speeches.len(),
        duration(total)
    )));
    let with_agenda = !m.agenda.is_empty();
    let mut head: Vec<String> = ["序号", "发言人", "界别/会场", "类型", "开始时间", "时长"]
        .map(str::to_owned)
        .to_vec();
    if with_agenda {
        head.push("议程".to_owned());
    }
    head.push("备注".to_owned());
    let rows = m
        .speeches
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let place = [s.sector.clone(), s.venue.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" / ");
            let mut notes = Vec::new();
            if let Some(to) = &s.replying_to {
                notes.push(format!("回应{to}"));
            }
            if let Some(whom) = &s.interrupts {
                notes.push(format!("于{whom}发言中插话"));
            }
            if let Some(reason) = &s.override_reason {
                notes.push(format!("主持人指定：{reason}"));
            }
            match (s.ended, s.spoken_ms) {
                (Some(EndReason::Yielded) | None, Some(_)) => {}
                (Some(reason), _) => notes.push(end_name(reason).to_owned()),
                (None, None) => notes.push("记录截止时未结束".to_owned()),
            }
            if s.spoken_ms.is_some_and(|ms| ms > s.limit_ms) {
                notes.push(format!("超出限时 {}", duration(u64::from(s.limit_ms))));
            }
            let mut row = vec![
                (i + 1).to_string(),
                s.who(),
                if place.is_empty() {
                    "—".to_owned()
                } else {
                    place
                },
                kind_name(s.kind).to_owned(),
                local_time(s.started_at),
                s.spoken_ms
                    .map_or_else(|| "—".to_owned(), |ms| duration(u64::from(ms))),
            ];
            if with_agenda {
                row.push(or_dash(s.item.clone()));
            }
            row.push(if notes.is_empty() {
                String::new()
            } else {
                notes.join("；")
            });
            row
        })
        .collect();
    out.push(Block::Table { head, rows });
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "通过",
        Outcome::Failed => "未通过",
        Outcome::NoQuorum => "未达法定人数",
        Outcome::NotDeclared => "不宣布表决结果（咨询性或多选/评分）",
    }
}

fn base_name(base: Base) -> &'static str {
    match base {
        Base::Cast => "投票数",
        Base::Present => "到会有表决权人数",
        Base::Entitled => "应到有表决权人数",
    }
}

fn majority_name(p: &PollMinutes) -> String {
    match p.majority.rule {
        MajorityRule::Simple => "简单多数".to_owned(),
        MajorityRule::Absolute => format!("过半数（以{}计）", base_name(p.majority.of)),
        MajorityRule::TwoThirds => format!("三分之二多数（以{}计）", base_name(p.majority.of)),
    }
}

fn method_name(p: &PollMinutes) -> &'static str {
    use yishi_protocol::PollMethod::*;
    match p.method {
        Single { .. } => "单选",
        Multiple { .. } => "多选",
        YesNoAbstain => "赞成/反对/弃权",
        Rating => "评分（1–5星）",
    }
}

fn tally_table(labels: &[String], tally: &Tally) -> Block {
    let mut rows: Vec<Vec<String>> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            vec![
                label.clone(),
                tally.counts.get(i).copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    rows.push(vec!["投票总数".to_owned(), tally.ballots.to_string()]);
    Block::Table {
        head: vec!["选项".to_owned(), "票数".to_owned()],
        rows,
    }
}

fn polls(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_POLLS.to_owned()));
    if m.polls.is_empty() {
        out.push(Block::Paragraph("无表决。".to_owned()));
        return;
    }
    for p in &m.polls {
        out.push(Block::Subheading(format!(
            "表决 {}：{}",
            p.id.0, p.question
        )));
        let electorate = match (p.binding, p.advisory) {
            (true, true) => "委员表决，并征求观众意见（分别计票）",
            (true, false) => "委员表决",
            (false, true) => "观众意见征集（咨询性）",
            (false, false) => "—",
        };
        field(out, "方式", format!("{}；{electorate}", method_name(p)));
        field(
            out,
            "记名",
            if p.secret {
                "不记名（无记名投票：只记录票数，不记录投票人与选择的对应）"
            } else {
                "记名"
            },
        );
        if p.binding {
            let mut rule = majority_name(p);
            if let Some(q) = p.quorum {
                rule.push_str(&format!("；法定人数：{}的 {}%", base_name(q.of), q.percent));
            }
            field(out, "表决规则", rule);
        }
        if let Some(at) = p.opened_at {
            field(out, "开始", local_time(at));
        }
        match p.closed_at {
            Some(at) if p.by_deadline => {
                field(out, "结束", format!("{}（到时自动结束）", local_time(at)))
            }
            Some(at) => field(out, "结束", local_time(at)),
            None => field(out, "结束", "记录截止时未结束"),
        }
        for reason in &p.resets {
            out.push(Block::Paragraph(format!("曾重置，已投票作废：{reason}")));
        }
        let Some(result) = &p.result else {
            out.push(Block::Paragraph("无宣布结果。".to_owned()));
            continue;
        };
        let labels = p.labels();
        if p.binding {
            field(
                out,
                "表决结果",
                match result.winner.and_then(|w| labels.get(usize::from(w))) {
                    Some(winner) if result.outcome == Outcome::Passed => {
                        format!("{}（{winner}）", outcome_name(result.outcome))
                    }
                    _ => outcome_name(result.outcome).to_owned(),
                },
            );
            field(
                out,
                "人数",
                format!(
                    "应到有表决权 {} 人，到会有表决权 {} 人",
                    result.entitled, result.present
                ),
            );
        }
        if let Some(tally) = &result.binding {
            out.push(Block::Paragraph("委员计票：".to_owned()));
            out.push(tally_table(&labels, tally));
        }
        if let Some(tally) = &result.advisory {
            out.push(Block::Paragraph(
                "观众意见（咨询性，不计入表决结果）：".to_owned(),
            ));
            out.push(tally_table(&labels, tally));
        }
        if !p.named.is_empty() {
            out.push(Block::Paragraph("记名投票明细：".to_owned()));
            out.push(Block::Table {
                head: vec!["委员".to_owned(), "选择".to_owned()],
                rows: p
                    .named
                    .iter()
                    .map(|v| vec![v.name.clone(), v.choice.clone()])
                    .collect(),
            });
        }
    }
}

fn questions(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_QUESTIONS.to_owned()));
    if m.questions.is_empty() {
        out.push(Block::Paragraph("无公开提问。".to_owned()));
        return;
    }
    let answered = m.questions.iter().filter(|q| q.answered).count();
    let forwarded = m
        .questions
        .iter()
        .filter(|q| q.forwarded_to.is_some())
        .count();
    out.push(Block::Paragraph(format!(
        "公开提问 {} 条，已答复 {answered} 条，转交 {forwarded} 条。",
        m.questions.len()
    )));
    let rows = m
        .questions
        .iter()
        .map(|q| {
            let mut state = Vec::new();
            if q.answered {
                state.push("已答复".to_owned());
            }
            if let Some(to) = &q.forwarded_to {
                state.push(format!("转交{to}"));
            }
            if let Some(into) = q.merged_into {
                state.push(format!("并入第 {} 号问题", into.0));
            }
            if state.is_empty() {
                state.push("未答复".to_owned());
            }
            vec![
                q.id.0.to_string(),
                q.author.clone(),
                q.text.clone(),
                local_time(q.at),
                q.upvotes.to_string(),
                state.join("；"),
            ]
        })
        .collect();
    out.push(Block::Table {
        head: ["编号", "提问人", "问题", "时间", "赞同", "处理"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    });
}

pub fn reason_name(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::Duplicate => "重复",
        RejectReason::OffTopic => "与议题无关",
        RejectReason::Abusive => "不文明用语",
        RejectReason::Advertising => "广告",
        RejectReason::PersonalInformation => "含个人信息",
        RejectReason::Other => "其他",
    }
}

fn moderation(m: &Minutes, out: &mut Vec<Block>) {
    let s = &m.moderation;
    out.push(Block::Heading(H_MODERATION.to_owned()));
    let reasons = |counts: &std::collections::BTreeMap<RejectReason, u32>| {
        let total: u32 = counts.values().sum();
        if total == 0 {
            return "0".to_owned();
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(r, n)| format!("{} {n}", reason_name(*r)))
            .collect();
        format!("{total}（{}）", parts.join("，"))
    };
    out.push(Block::Table {
        head: ["", "通过", "未通过（按原因）", "待审", "合并"]
            .map(str::to_owned)
            .to_vec(),
        rows: vec![
            vec![
                "评论".to_owned(),
                s.comments_approved.to_string(),
                reasons(&s.comments_rejected),
                s.comments_pending.to_string(),
                "—".to_owned(),
            ],
            vec![
                "提问".to_owned(),
                s.questions_approved.to_string(),
                reasons(&s.questions_rejected),
                s.questions_pending.to_string(),
                s.questions_merged.to_string(),
            ],
        ],
    });
    field(out, "敏感词标记", format!("{} 条", s.flagged));
}

fn annotations(m: &Minutes, out: &mut Vec<Block>) {
    out.push(Block::Heading(H_ANNOTATIONS.to_owned()));
    out.push(Block::Bullets(
        m.annotations
            .iter()
            .map(|a| {
                let by = if a.by.is_empty() {
                    String::new()
                } else {
                    format!("{}：", a.by)
                };
                format!("{}（第 {} 号事件）{by}{}", local_time(a.at), a.seq, a.text)
            })
            .collect(),
    ));
}

fn verification(m: &Minutes, out: &mut Vec<Block>) {
    let v = &m.verification;
    out.push(Block::Heading(H_VERIFICATION.to_owned()));
    field(
        out,
        "事件范围",
        match v.range {
            Some((first, last)) => format!("第 {first} 至 {last} 号事件"),
            None => "记录为空".to_owned(),
        },
    );
    field(out, "最终哈希", "");
    out.push(Block::Code(v.final_hash.clone()));
    match &v.published_hash {
        Some(p) if *p == v.final_hash => field(out, "闭会公布哈希", "与最终哈希一致"),
        Some(p) => {
            field(out, "闭会公布哈希", "与最终哈希不一致！");
            out.push(Block::Code(p.clone()));
        }
        None => field(out, "闭会公布哈希", "会议尚未关闭"),
    }
    field(
        out,
        "哈希链",
        match &v.chain {
            Ok(()) => "完整（每条记录的哈希均与其内容和前一条相符）".to_owned(),
            Err(e) => format!("不完整：{e}"),
        },
    );
    out.push(Block::Paragraph(
        "核验方法：在服务器上运行下面的命令，或用管理接口导出记录（GET /api/v1/rooms/{id}/record）后对文件运行 yishi record verify；输出的最终哈希应与上面一致。"
            .replace("{id}", &m.room),
    ));
    out.push(Block::Code(format!("yishi record verify {}", m.room)));
}
