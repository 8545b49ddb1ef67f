//! Property protections in Glance's `property-protections` roles format.
//!
//! The file is INI. Each section header is a regular expression searched (unanchored) in the
//! property name; each section grants `create`, `read`, `update` and `delete` to a comma-separated
//! list of roles, to everyone (`@`) or to nobody (`!`). The first section that matches a name, in
//! file order, decides; a name that matches none may not be touched at all. `os_glance*` names
//! are the server's own and always pass.

use std::fmt;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An operation on a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Read,
    Update,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    fn index(self) -> usize {
        match self {
            Operation::Create => 0,
            Operation::Read => 1,
            Operation::Update => 2,
            Operation::Delete => 3,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a protections file was refused. Glance refuses to start on each of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtectionsError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("section [{section}] appears twice")]
    DuplicateSection { section: String },
    #[error("section [{section}] does not define '{operation}'")]
    MissingOperation {
        section: String,
        operation: Operation,
    },
    #[error("section [{section}]: '{operation}' grants both '@' and '!'")]
    EveryoneAndNobody {
        section: String,
        operation: Operation,
    },
    #[error("section [{section}] is not a valid regular expression: {message}")]
    BadPattern { section: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    Everyone,
    Nobody,
    Roles(Vec<String>),
}

impl Grant {
    fn parse(value: &str) -> Option<Grant> {
        let items: Vec<String> = value
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let everyone = items.iter().any(|s| s == "@");
        let nobody = items.iter().any(|s| s == "!");
        match (everyone, nobody) {
            (true, true) => None,
            (true, false) => Some(Grant::Everyone),
            (false, true) => Some(Grant::Nobody),
            (false, false) if items.is_empty() => Some(Grant::Nobody),
            (false, false) => Some(Grant::Roles(items)),
        }
    }

    fn allows(&self, roles: &[String]) -> bool {
        match self {
            Grant::Everyone => true,
            Grant::Nobody => false,
            Grant::Roles(granted) => roles
                .iter()
                .any(|r| granted.iter().any(|g| g.eq_ignore_ascii_case(r))),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    regex: Regex,
    grants: [Grant; 4],
}

/// A parsed protections file.
#[derive(Debug, Clone)]
pub struct PropertyProtections {
    rules: Vec<Rule>,
    source: String,
}

impl PropertyProtections {
    /// Parses a file in the roles format.
    pub fn parse(text: &str) -> Result<PropertyProtections, ProtectionsError> {
        let sections = parse_ini(text)?;
        let mut rules = Vec::with_capacity(sections.len());
        for (section, entries) in sections {
            // The server's own keys are governed by the built-in rule below, never by the file.
            if section.starts_with(crate::keys::RESERVED_PREFIX) {
                continue;
            }
            let mut grants: [Option<Grant>; 4] = [None, None, None, None];
            for operation in Operation::ALL {
                let Some((_, value)) = entries.iter().rev().find(|(k, _)| k == operation.as_str())
                else {
                    return Err(ProtectionsError::MissingOperation { section, operation });
                };
                let Some(grant) = Grant::parse(value) else {
                    return Err(ProtectionsError::EveryoneAndNobody { section, operation });
                };
                grants[operation.index()] = Some(grant);
            }
            let regex = Regex::new(&section).map_err(|e| ProtectionsError::BadPattern {
                section: section.clone(),
                message: e.to_string(),
            })?;
            let [Some(c), Some(r), Some(u), Some(d)] = grants else {
                continue;
            };
            rules.push(Rule {
                pattern: section,
                regex,
                grants: [c, r, u, d],
            });
        }
        Ok(PropertyProtections {
            rules,
            source: text.to_string(),
        })
    }

    /// The text this was parsed from (the server hands it to the UI, which parses it again).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether a caller holding `roles` may perform `operation` on the property `key`.
    pub fn allows(&self, key: &str, operation: Operation, roles: &[String]) -> bool {
        if key.starts_with(crate::keys::RESERVED_PREFIX) {
            return true;
        }
        match self.rules.iter().find(|r| r.regex.is_match(key)) {
            Some(rule) => rule.grants[operation.index()].allows(roles),
            None => false,
        }
    }

    /// The section pattern that governs `key`, if any (for explanations).
    pub fn rule_for(&self, key: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.regex.is_match(key))
            .map(|r| r.pattern.as_str())
    }
}

type Sections = Vec<(String, Vec<(String, String)>)>;

fn parse_ini(text: &str) -> Result<Sections, ProtectionsError> {
    let mut sections: Sections = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.starts_with('[') {
            let Some(end) = trimmed.rfind(']') else {
                return Err(ProtectionsError::Syntax {
                    line,
                    message: "section header has no closing ']'".into(),
                });
            };
            let name = trimmed[1..end].to_string();
            if name.is_empty() {
                return Err(ProtectionsError::Syntax {
                    line,
                    message: "empty section header".into(),
                });
            }
            if sections.iter().any(|(s, _)| *s == name) {
                return Err(ProtectionsError::DuplicateSection { section: name });
            }
            sections.push((name, Vec::new()));
            continue;
        }
        let Some((_, entries)) = sections.last_mut() else {
            return Err(ProtectionsError::Syntax {
                line,
                message: "entry before the first section header".into(),
            });
        };
        let split = trimmed
            .find(['=', ':'])
            .map(|i| (&trimmed[..i], &trimmed[i + 1..]));
        let Some((key, value)) = split else {
            return Err(ProtectionsError::Syntax {
                line,
                message: format!("expected 'operation = roles', found '{trimmed}'"),
            });
        };
        entries.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(sections)
}
