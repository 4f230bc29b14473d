//! Participation records as PDF, one member per page (一人一档): who they are, their
//! numbers over the period and every point with the meeting and event it came from.
//! Laid out as the minutes' blocks and typeset the same way ([`blocks_to_pdf`]), so
//! names and notes reach typst as data, never as markup.

use super::{MemberRecord, Report};
use crate::minutes::time::{duration, local_minute};
use crate::minutes::{Block, blocks_to_pdf};
use crate::pdf::{PdfError, Settings};

fn period(report: &Report) -> String {
    format!("{}至{}", report.period.from, report.period.to)
}

/// One member's page(s) as blocks.
pub fn member_blocks(report: &Report, m: &MemberRecord) -> Vec<Block> {
    let field = |label: &str, value: String| Block::Field(label.to_owned(), value);
    let dash = |text: &str| {
        if text.is_empty() {
            "—".to_owned()
        } else {
            text.to_owned()
        }
    };
    let mut out = vec![
        Block::Title(format!("{}　履职档案", m.name)),
        field("姓名", m.name.clone()),
        field("委员编号", dash(m.number.as_deref().unwrap_or(""))),
        field("界别", dash(&m.sector)),
        field("分会场", dash(&m.venue)),
        field("状态", (if m.active { "在册" } else { "停用" }).to_owned()),
        field("统计期间", period(report)),
        field("积分规则", report.rules.label()),
        Block::Heading("履职统计".to_owned()),
        Block::Table {
            head: [
                "应出席",
                "出席",
                "缺席",
                "在会时长",
                "发言",
                "发言时长",
                "提问",
                "参加表决",
                "积分",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![vec![
                m.invited.to_string(),
                m.attended.to_string(),
                m.absent.to_string(),
                duration(m.present_ms),
                format!("{} 次", m.speeches),
                duration(m.speech_ms),
                m.questions.to_string(),
                m.polls.to_string(),
                m.points.to_string(),
            ]],
        },
        Block::Heading("积分明细".to_owned()),
    ];
    if m.lines.is_empty() {
        out.push(Block::Paragraph("统计期间内无积分记录。".to_owned()));
    } else {
        out.push(Block::Table {
            head: ["时间", "会议", "项目", "积分", "说明", "来源事件"]
                .map(str::to_owned)
                .to_vec(),
            rows: m
                .lines
                .iter()
                .map(|p| {
                    vec![
                        local_minute(p.at),
                        p.title.clone(),
                        p.kind.label().to_owned(),
                        p.points.to_string(),
                        p.note.clone(),
                        format!("{} 第 {} 号事件", p.room, p.seq),
                    ]
                })
                .collect(),
        });
    }
    out.push(Block::Paragraph(
        "本档案由系统根据各次会议的哈希链记录自动生成。每条积分注明来源会议编号与事件序号，可在该会议的记录中核对（yishi record verify）。"
            .to_owned(),
    ));
    out
}

/// The report as a PDF: one member per page (more when their points run long), in the
/// roster's order. An empty roster gives one page saying so.
pub fn to_pdf(report: &Report, settings: &Settings) -> Result<Vec<u8>, PdfError> {
    let title = format!("履职档案 {}", period(report));
    let mut pages: Vec<Vec<Block>> = report
        .members
        .iter()
        .map(|m| member_blocks(report, m))
        .collect();
    if pages.is_empty() {
        pages.push(vec![
            Block::Title(title.clone()),
            Block::Paragraph("名册中无委员。".to_owned()),
        ]);
    }
    blocks_to_pdf(settings, &title, pages)
}
