//! The credit rules (积分规则) of participation records: a versioned document (TOML or
//! JSON) saying how many points each kind of participation gives, the most a kind may
//! give in one period (cap), and the deduction for an absence. Version 1 is built in
//! (`default-rules.toml`); a committee's own file replaces it whole. Every report prints
//! the version and name of the rules it was computed with.

use serde::{Deserialize, Serialize};
use yishi_protocol::EntryKind;

/// The built-in rules, as a document: also the template for a committee's own.
pub const DEFAULT_RULES: &str = include_str!("default-rules.toml");

/// A complete set of rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Changed with every change of the rules, and printed in every report, so a number
    /// can always be traced to the rules that made it.
    pub version: u32,
    /// What the committee calls these rules (e.g. "2026年度履职积分办法").
    pub name: String,
    /// Per meeting checked in at (出席).
    pub attendance: Rule,
    /// Per meeting invited to and never checked in at (缺席): zero or negative.
    pub absence: Rule,
    /// Per speech (发言).
    pub speech: SpeechRule,
    /// Per published question (提问): the written contribution the record holds.
    pub question: Rule,
    /// Per binding poll taken part in (表决).
    pub poll: Rule,
}

/// Points per event of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub points: i64,
    /// The most points (for a deduction: the most deducted) this kind gives one member
    /// in one period; none: no limit. Events past it are still listed, with 0 points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
}

/// Points per speech: only turns of these kinds and of at least this length count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechRule {
    pub points: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<i64>,
    /// The kinds of turn that earn points (a point of order, say, may not).
    pub kinds: Vec<EntryKind>,
    /// The least time spoken for a speech to earn points, in seconds.
    #[serde(default)]
    pub min_seconds: u32,
}

impl SpeechRule {
    pub fn rule(&self) -> Rule {
        Rule {
            points: self.points,
            cap: self.cap,
        }
    }
}

/// Why a rules document was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("not a rules document: {0}")]
    Syntax(String),
    #[error("{0}")]
    Invalid(String),
}

impl Default for Rules {
    fn default() -> Rules {
        // The built-in document is checked by a test; this never falls back in practice.
        Rules::parse(DEFAULT_RULES).unwrap_or_else(|_| Rules {
            version: 1,
            name: String::new(),
            attendance: Rule::none(),
            absence: Rule::none(),
            speech: SpeechRule {
                points: 0,
                cap: None,
                kinds: Vec::new(),
                min_seconds: 0,
            },
            question: Rule::none(),
            poll: Rule::none(),
        })
    }
}

impl Rule {
    fn none() -> Rule {
        Rule {
            points: 0,
            cap: None,
        }
    }
}

impl Rules {
    /// Rules from a document: JSON if it starts with `{`, TOML otherwise. Checked: a
    /// version of 1 or more, a name, no negative points but for an absence, no positive
    /// points for one, no negative cap.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let rules: Rules = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?
        };
        rules.check()?;
        Ok(rules)
    }

    fn check(&self) -> Result<(), RulesError> {
        let invalid = |m: &str| Err(RulesError::Invalid(m.to_owned()));
        if self.version == 0 {
            return invalid("version must be 1 or more");
        }
        if self.name.trim().is_empty() {
            return invalid("name must not be empty");
        }
        for (what, rule) in [
            ("attendance", self.attendance.clone()),
            ("speech", self.speech.rule()),
            ("question", self.question.clone()),
            ("poll", self.poll.clone()),
        ] {
            if rule.points < 0 {
                return invalid(&format!("{what}.points must not be negative"));
            }
            if rule.cap.is_some_and(|c| c < 0) {
                return invalid(&format!("{what}.cap must not be negative"));
            }
        }
        if self.absence.points > 0 {
            return invalid("absence.points is a deduction: zero or negative");
        }
        if self.absence.cap.is_some_and(|c| c < 0) {
            return invalid("absence.cap (the most deducted) must not be negative");
        }
        Ok(())
    }

    /// `第1版 默认积分规则`: how reports name the rules they used.
    pub fn label(&self) -> String {
        format!("第{}版 {}", self.version, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_are_version_1_and_valid() {
        let rules = Rules::parse(DEFAULT_RULES).unwrap();
        assert_eq!(rules.version, 1);
        assert_eq!(rules, Rules::default());
        assert_eq!(rules.label(), "第1版 默认积分规则");
        assert!(rules.absence.points < 0);
        assert!(!rules.speech.kinds.contains(&EntryKind::PointOfOrder));
    }

    #[test]
    fn rules_are_read_from_toml_or_json_alike() {
        let toml = Rules::parse(DEFAULT_RULES).unwrap();
        let json = serde_json::to_string(&toml).unwrap();
        assert_eq!(Rules::parse(&json).unwrap(), toml);
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let with = |from: &str, to: &str| {
            assert!(DEFAULT_RULES.contains(from), "{from}");
            Rules::parse(&DEFAULT_RULES.replace(from, to))
                .unwrap_err()
                .to_string()
        };
        assert!(with("version = 1", "version = 0").contains("version"));
        assert!(with("points = -2", "points = 2").contains("absence"));
        assert!(with("cap = 30", "cap = -1").contains("speech.cap"));
        assert!(with("[poll]\npoints = 0", "[poll]\npoints = -1").contains("poll.points"));
        assert!(with("\"reply\"", "\"speech\"").contains("not a rules document"));
        assert!(with("min_seconds = 0", "min_second = 0").contains("not a rules document"));
        assert!(Rules::parse("version = 2").is_err());
    }
}
