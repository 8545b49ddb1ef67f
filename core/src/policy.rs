//! Operators' access rules in oslo.policy's language, as Glance reads them from `policy.yaml`:
//! a rule per policy name, each a check expression.
//!
//! - `role:admin` — the caller holds the role (compared without regard to case).
//! - `rule:name` — another rule, by name.
//! - `kind:match` — a generic check: `match`, with the target's `%(field)s` put in, equals the
//!   caller's credential `kind` (`project_id`, `user_id`, `is_admin`, …); when `kind` is a
//!   quoted literal (`'public':%(visibility)s`) or `True`/`False`, the literal is compared.
//!   A field the target lacks fails the check.
//! - `@` (or an empty rule) always passes, `!` never does.
//! - `not`, `and`, `or` (in that order of precedence) and parentheses.
//!
//! Pure: the server decides with it and the browser can show the same verdicts.

use std::collections::BTreeMap;

use thiserror::Error;

/// Why a rule or a policy file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("policy {name}: {message}")]
    Rule { name: String, message: String },
    #[error("policy file, line {line}: {message}")]
    File { line: usize, message: String },
}

/// A parsed check expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Always,
    Never,
    Role(String),
    Rule(String),
    /// `kind:match`: the caller's credential (or a literal) against the interpolated match.
    Generic {
        kind: String,
        matches: String,
    },
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

/// Who asks: the caller's credentials as oslo.policy sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub roles: Vec<String>,
    /// Credential values by name (`project_id`, `user_id`, …).
    pub values: BTreeMap<String, String>,
}

impl Credentials {
    pub fn new(project_id: Option<&str>, user_id: Option<&str>, roles: &[&str]) -> Credentials {
        let mut values = BTreeMap::new();
        if let Some(p) = project_id {
            values.insert("project_id".to_string(), p.to_string());
        }
        if let Some(u) = user_id {
            values.insert("user_id".to_string(), u.to_string());
        }
        Credentials {
            roles: roles.iter().map(|r| r.to_ascii_lowercase()).collect(),
            values,
        }
    }
}

impl Credentials {
    /// The caller's roles and `project_id` (`Policy::credentials` adds `is_admin`).
    pub fn of(caller: &crate::Caller) -> Credentials {
        let roles: Vec<&str> = caller.roles.iter().map(String::as_str).collect();
        Credentials::new(caller.project_id.as_deref(), None, &roles)
    }
}

/// What is acted on: the fields a rule's `%(field)s` refers to.
pub type Target = BTreeMap<String, String>;

/// What a policy's `%(field)s` refers to for an image, as Glance's image target: its owner as
/// `project_id` and `owner`, its visibility, `member_id` (the caller's project when the image is
/// shared and the caller, who sees it, does not own it: a member), its attributes (`id`,
/// `name`, `status`, `disk_format`, `container_format`, `protected` and `os_hidden` as Python
/// writes booleans, `min_disk`, `min_ram`) and its properties (`%(os_distro)s`).
pub fn image_target(caller: &crate::Caller, image: &crate::Image) -> Target {
    // Glance's image target resolves these from the image itself (its attributes, `member`),
    // never from a property of the same name.
    const TARGET_FIELDS: [&str; 26] = [
        "project_id",
        "owner",
        "visibility",
        "member_id",
        "member",
        "id",
        "image_id",
        "name",
        "status",
        "protected",
        "os_hidden",
        "min_disk",
        "min_ram",
        "disk_format",
        "container_format",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "tags",
        "locations",
        "created_at",
        "updated_at",
        "extra_properties",
        "deleted",
    ];
    // A property never stands in for a field the image's owner, visibility or membership
    // decides, whether or not the image has it.
    let mut t: Target = image
        .properties
        .iter()
        .filter(|(k, _)| !TARGET_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let python = |b: bool| if b { "True" } else { "False" }.to_string();
    t.insert("id".into(), image.id.clone());
    t.insert("status".into(), image.status.as_str().to_string());
    t.insert("protected".into(), python(image.protected));
    t.insert("os_hidden".into(), python(image.os_hidden));
    t.insert("min_disk".into(), image.min_disk.to_string());
    t.insert("min_ram".into(), image.min_ram.to_string());
    for (key, value) in [
        ("name", &image.name),
        ("disk_format", &image.disk_format),
        ("container_format", &image.container_format),
    ] {
        if let Some(v) = value {
            t.insert(key.into(), v.clone());
        }
    }
    if let Some(owner) = &image.owner {
        t.insert("project_id".into(), owner.clone());
        t.insert("owner".into(), owner.clone());
    }
    t.insert("visibility".into(), image.visibility.as_str().to_string());
    if image.visibility == crate::Visibility::Shared
        && !caller.owns(image.owner.as_deref())
        && let Some(project) = &caller.project_id
    {
        t.insert("member_id".into(), project.clone());
    }
    t
}

/// The target of an action on no particular resource (listing, creating): the caller's own
/// project, as Glance builds it.
pub fn project_target(caller: &crate::Caller) -> Target {
    let mut t = Target::new();
    if let Some(project) = &caller.project_id {
        t.insert("project_id".into(), project.clone());
    }
    t
}

/// The target of an action on a metadata definitions namespace (or on something in it), as
/// Glance's metadef policy builds it: the namespace's owner as `project_id`, its visibility.
pub fn namespace_target(owner: Option<&str>, visibility: &str) -> Target {
    let mut t = Target::new();
    if let Some(owner) = owner {
        t.insert("project_id".into(), owner.to_string());
    }
    t.insert("visibility".into(), visibility.to_string());
    t
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Check(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            _ => {
                // A word runs to whitespace or a parenthesis outside quotes.
                let mut word = String::new();
                let mut quote = None;
                while let Some(&c) = chars.peek() {
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None if c == '\'' || c == '"' => quote = Some(c),
                        None if c.is_whitespace() || c == '(' || c == ')' => break,
                        None if c == '%' => {
                            // `%(field)s`: its parentheses belong to the word.
                            word.push(c);
                            chars.next();
                            if chars.peek() == Some(&'(') {
                                for c in chars.by_ref() {
                                    word.push(c);
                                    if c == ')' {
                                        break;
                                    }
                                }
                            }
                            continue;
                        }
                        None => {}
                    }
                    word.push(c);
                    chars.next();
                }
                if quote.is_some() {
                    return Err(format!("unclosed quote in {word:?}"));
                }
                tokens.push(match word.as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    _ => Token::Check(word),
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Check, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Check::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Check, String> {
        let mut parts = vec![self.not()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Check::And(parts)
        })
    }

    fn not(&mut self) -> Result<Check, String> {
        if self.peek() == Some(&Token::Not) {
            self.at += 1;
            return Ok(Check::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Check, String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(Token::Open) => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("a '(' is not closed".into());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Check(word)) => check_of(&word),
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("the rule ends too early".into()),
        }
    }
}

fn check_of(word: &str) -> Result<Check, String> {
    match word {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        _ => {}
    }
    let Some((kind, matches)) = word.split_once(':') else {
        return Err(format!("{word:?} is not a check (kind:match)"));
    };
    Ok(match kind {
        "role" => Check::Role(matches.to_ascii_lowercase()),
        "rule" => Check::Rule(matches.to_string()),
        "http" | "https" => return Err(format!("{word:?}: remote checks are not supported")),
        _ => Check::Generic {
            kind: kind.to_string(),
            matches: matches.to_string(),
        },
    })
}

/// Parses a check expression (an empty one always passes).
pub fn parse(text: &str) -> Result<Check, String> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut parser = Parser { tokens, at: 0 };
    let check = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(format!(
            "unexpected {:?} after a complete rule",
            parser.tokens[parser.at]
        ));
    }
    Ok(check)
}

/// `%(field)s` replaced by the target's fields; `None` if one is missing.
fn interpolate(text: &str, target: &Target) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(")s")?;
        out.push_str(target.get(&after[..end])?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn unquote(s: &str) -> Option<&str> {
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) {
        Some(&s[1..s.len() - 1])
    } else {
        None
    }
}

/// A set of named rules: Glance's defaults, with an operator's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    rules: BTreeMap<String, Check>,
    /// The names whose rule an override changed.
    changed: std::collections::BTreeSet<String>,
}

/// Deeper `rule:` references than this are taken for a loop and fail.
const MAX_DEPTH: usize = 32;

impl Policy {
    /// Rules from `(name, text)` pairs.
    pub fn from_rules<'a>(
        rules: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Policy, PolicyError> {
        let mut policy = Policy {
            rules: BTreeMap::new(),
            changed: Default::default(),
        };
        for (name, text) in rules {
            policy.set(name, text)?;
        }
        Ok(policy)
    }

    /// Sets (or replaces) one rule.
    pub fn set(&mut self, name: &str, text: &str) -> Result<(), PolicyError> {
        let check = parse(text).map_err(|message| PolicyError::Rule {
            name: name.to_string(),
            message,
        })?;
        self.rules.insert(name.to_string(), check);
        Ok(())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.keys().map(String::as_str)
    }

    /// These rules with `overrides` (a policy file's) in place of theirs.
    pub fn overridden(&self, overrides: &[(String, String)]) -> Result<Policy, PolicyError> {
        let mut policy = self.clone();
        for (name, text) in overrides {
            let before = policy.rules.get(name).cloned();
            policy.set(name, text)?;
            if policy.rules.get(name) != before.as_ref() {
                policy.changed.insert(name.clone());
            }
        }
        Ok(policy)
    }

    /// Whether overrides changed what policy `name` decides: its own rule, or a rule it refers
    /// to (directly or further down), is not the one these rules started from.
    pub fn overrides(&self, name: &str) -> bool {
        !self.changed.is_empty() && self.changed_at(name, 0)
    }

    fn changed_at(&self, name: &str, depth: usize) -> bool {
        if self.changed.contains(name) || depth > MAX_DEPTH {
            return true;
        }
        match self.rules.get(name) {
            Some(check) => self.refers_changed(check, depth),
            None => name != "default" && self.changed_at("default", depth + 1),
        }
    }

    fn refers_changed(&self, check: &Check, depth: usize) -> bool {
        match check {
            Check::Rule(name) => self.changed_at(name, depth + 1),
            Check::Not(c) => self.refers_changed(c, depth),
            Check::And(cs) | Check::Or(cs) => cs.iter().any(|c| self.refers_changed(c, depth)),
            _ => false,
        }
    }

    /// `names` and every rule they refer to, directly or further down (`rule:` references).
    pub fn referenced<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> std::collections::BTreeSet<String> {
        fn walk(check: &Check, out: &mut Vec<String>) {
            match check {
                Check::Rule(name) => out.push(name.clone()),
                Check::Not(c) => walk(c, out),
                Check::And(cs) | Check::Or(cs) => cs.iter().for_each(|c| walk(c, out)),
                _ => {}
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = names.into_iter().map(str::to_string).collect();
        while let Some(name) = todo.pop() {
            if let Some(check) = self.rules.get(&name) {
                if seen.insert(name) {
                    walk(check, &mut todo);
                }
            } else if seen.insert(name) {
                // A name without a rule falls back to `default`.
                todo.push("default".into());
            }
        }
        seen
    }

    /// The caller's credentials as Glance's request context holds them: its roles,
    /// `project_id`, and `is_admin` as these rules' `context_is_admin` decides it.
    pub fn credentials(&self, caller: &crate::Caller) -> Credentials {
        let mut creds = Credentials::of(caller);
        let admin = match self.allows("context_is_admin", &creds, &project_target(caller)) {
            true => "True",
            false => "False",
        };
        creds.values.insert("is_admin".into(), admin.into());
        creds
    }

    /// Whether the caller is what Glance's context calls an administrator (`context_is_admin`).
    pub fn is_admin(&self, caller: &crate::Caller) -> bool {
        self.allows(
            "context_is_admin",
            &Credentials::of(caller),
            &project_target(caller),
        )
    }

    /// Whether `creds` may do what policy `name` guards on `target`. A name without a rule
    /// falls back to the `default` rule, as oslo.policy.
    pub fn allows(&self, name: &str, creds: &Credentials, target: &Target) -> bool {
        let check = self.rules.get(name).or_else(|| self.rules.get("default"));
        match check {
            Some(c) => self.eval(c, creds, target, 0),
            None => false,
        }
    }

    fn eval(&self, check: &Check, creds: &Credentials, target: &Target, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match check {
            Check::Always => true,
            Check::Never => false,
            Check::Role(role) => creds.roles.iter().any(|r| r == role),
            Check::Rule(name) => self
                .rules
                .get(name)
                .is_some_and(|c| self.eval(c, creds, target, depth + 1)),
            Check::Generic { kind, matches } => {
                let Some(matches) = interpolate(matches, target) else {
                    return false;
                };
                if let Some(literal) = unquote(kind) {
                    return literal == matches;
                }
                if kind == "True" || kind == "False" {
                    return *kind == matches;
                }
                creds.values.get(kind).is_some_and(|v| *v == matches)
            }
            Check::Not(inner) => !self.eval(inner, creds, target, depth + 1),
            Check::And(parts) => parts.iter().all(|c| self.eval(c, creds, target, depth + 1)),
            Check::Or(parts) => parts.iter().any(|c| self.eval(c, creds, target, depth + 1)),
        }
    }
}

/// Reads a policy file: a YAML (or JSON) mapping of policy names to rule texts, as
/// `policy.yaml` writes it (`"name": "rule"` a line; comments after `#`; JSON's `{...}` with
/// `"name": "rule",` lines too). Other YAML (nesting, lists, multi-line strings) is refused.
pub fn read_file(text: &str) -> Result<Vec<(String, String)>, PolicyError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |message: &str| PolicyError::File {
            line,
            message: message.to_string(),
        };
        let trimmed = strip_comment(raw).trim();
        let trimmed = trimmed.trim_end_matches(',').trim();
        if trimmed.is_empty() || trimmed == "{" || trimmed == "}" || trimmed == "---" {
            continue;
        }
        let (key, rest) = split_key(trimmed).ok_or_else(|| bad("expected \"name\": \"rule\""))?;
        let value = rest.trim();
        let value = match unquote(value) {
            Some(v) => v.to_string(),
            None if value.starts_with('\'') || value.starts_with('"') => {
                return Err(bad("a rule's closing quote is missing"));
            }
            None if value.is_empty() => String::new(),
            None if value.starts_with('|') || value.starts_with('>') || value.starts_with('[') => {
                return Err(bad("rules are one-line strings"));
            }
            None => value.to_string(),
        };
        out.push((key, value));
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' => return &line[..i],
            None => {}
        }
    }
    line
}

/// `"key": rest` or `key: rest`.
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = line[1..].find(q)? + 1;
        let key = &line[1..end];
        let rest = line[end + 1..].trim_start().strip_prefix(':')?;
        return Some((key.to_string(), rest));
    }
    let (key, rest) = line
        .split_once(": ")
        .or_else(|| line.strip_suffix(':').map(|k| (k, "")))?;
    Some((key.trim().to_string(), rest))
}

/// Glance 33's defaults (secure RBAC) for the image, member, location, task, cache, store and
/// metadata definition policies, as `glance/policies/` composes them: `(name, rule)`.
pub const GLANCE_DEFAULTS: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    ("default", ""),
    ("service_api", "role:service or role:admin"),
    (
        "add_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
    ),
    (
        "delete_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "get_image",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
    ),
    (
        "get_images",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    ),
    (
        "modify_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    ("publicize_image", "rule:context_is_admin"),
    (
        "communitize_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "download_image",
        "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
    ),
    (
        "download_from_store",
        "rule:context_is_admin or (role:member and (project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s))",
    ),
    (
        "upload_image",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    ("delete_image_location", "rule:context_is_admin"),
    (
        "get_image_location",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    ),
    (
        "set_image_location",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "add_image_location",
        "rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
    ),
    ("fetch_image_location", "rule:service_api"),
    (
        "add_member",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "delete_member",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "get_member",
        "rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
    ),
    (
        "get_members",
        "rule:context_is_admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
    ),
    (
        "modify_member",
        "rule:context_is_admin or (role:member and project_id:%(member_id)s)",
    ),
    ("manage_image_cache", "rule:context_is_admin"),
    ("cache_image", "rule:manage_image_cache"),
    ("cache_list", "rule:manage_image_cache"),
    ("cache_delete", "rule:manage_image_cache"),
    ("cache_clean", "rule:context_is_admin"),
    ("cache_prune", "rule:context_is_admin"),
    ("list_cached_nodes", "rule:context_is_admin"),
    (
        "deactivate",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    (
        "reactivate",
        "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    ),
    ("copy_image", "rule:context_is_admin"),
    ("get_task", "rule:default"),
    ("get_tasks", "rule:default"),
    ("add_task", "rule:default"),
    ("modify_task", "rule:default"),
    ("tasks_api_access", "rule:context_is_admin"),
    (
        "stores_info_detail",
        "rule:context_is_admin or rule:service_api",
    ),
    ("metadef_default", ""),
    ("metadef_admin", "rule:context_is_admin"),
    (
        "get_metadef_namespace",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "get_metadef_namespaces",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    ),
    ("modify_metadef_namespace", "rule:metadef_admin"),
    ("add_metadef_namespace", "rule:metadef_admin"),
    ("delete_metadef_namespace", "rule:metadef_admin"),
    (
        "get_metadef_object",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "get_metadef_objects",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    ("modify_metadef_object", "rule:metadef_admin"),
    ("add_metadef_object", "rule:metadef_admin"),
    ("delete_metadef_object", "rule:metadef_admin"),
    (
        "list_metadef_resource_types",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "get_metadef_resource_type",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "add_metadef_resource_type_association",
        "rule:metadef_admin",
    ),
    (
        "remove_metadef_resource_type_association",
        "rule:metadef_admin",
    ),
    (
        "get_metadef_property",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "get_metadef_properties",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    ("modify_metadef_property", "rule:metadef_admin"),
    ("add_metadef_property", "rule:metadef_admin"),
    ("remove_metadef_property", "rule:metadef_admin"),
    (
        "get_metadef_tag",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    (
        "get_metadef_tags",
        "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))",
    ),
    ("modify_metadef_tag", "rule:metadef_admin"),
    ("add_metadef_tag", "rule:metadef_admin"),
    ("add_metadef_tags", "rule:metadef_admin"),
    ("delete_metadef_tag", "rule:metadef_admin"),
    ("delete_metadef_tags", "rule:metadef_admin"),
];

/// The operations Glance does not have, with defaults as safe as the operation they reveal:
/// an image's history (removed values included) and restoring from it are for those who may
/// change the image.
pub const GLINT_DEFAULTS: &[(&str, &str)] = &[
    ("get_image_history", "rule:modify_image"),
    ("restore_image_history", "rule:modify_image"),
];

impl Policy {
    /// Glance 33's defaults, and Glint's own operations'.
    pub fn glance_defaults() -> Policy {
        // The tables are this module's own and parse; a broken entry would fail every test.
        Policy::from_rules(GLANCE_DEFAULTS.iter().chain(GLINT_DEFAULTS).copied()).unwrap_or_else(
            |_| Policy {
                rules: BTreeMap::new(),
                changed: Default::default(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pairs: &[(&str, &str)]) -> Target {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_language() {
        let p = Policy::from_rules([
            ("admin", "role:admin"),
            ("owner", "project_id:%(project_id)s"),
            ("admin_or_owner", "rule:admin or rule:owner"),
            ("public", "'public':%(visibility)s"),
            ("nobody", "!"),
            ("anybody", "@"),
            ("empty", ""),
            ("not_reader", "not role:reader"),
            ("precedence", "role:a or role:b and role:c"),
            ("grouped", "(role:a or role:b) and role:c"),
            ("flag", "is_admin:True"),
            ("loop", "rule:loop"),
        ])
        .expect("parses");
        let alice = Credentials::new(Some("p1"), Some("alice"), &["Member", "b"]);
        let mine = target(&[("project_id", "p1"), ("visibility", "private")]);
        let theirs = target(&[("project_id", "p2"), ("visibility", "public")]);
        assert!(p.allows("owner", &alice, &mine));
        assert!(!p.allows("owner", &alice, &theirs));
        assert!(p.allows("admin_or_owner", &alice, &mine));
        assert!(p.allows("public", &alice, &theirs));
        assert!(!p.allows("public", &alice, &mine));
        assert!(!p.allows("nobody", &alice, &mine));
        assert!(p.allows("anybody", &alice, &mine));
        assert!(p.allows("empty", &alice, &mine));
        assert!(p.allows("not_reader", &alice, &mine));
        // `and` binds tighter than `or`: b alone is not enough for `b and c`.
        assert!(!p.allows("precedence", &alice, &mine));
        let c = Credentials::new(None, None, &["c", "b"]);
        assert!(p.allows("grouped", &c, &mine));
        assert!(!p.allows("grouped", &alice, &mine));
        let mut flagged = Credentials::default();
        flagged.values.insert("is_admin".into(), "True".into());
        assert!(p.allows("flag", &flagged, &mine));
        assert!(
            !p.allows("loop", &alice, &mine),
            "a loop fails, it does not hang"
        );
        // A field the target lacks fails the check.
        assert!(!p.allows("owner", &alice, &Target::new()));
        // Roles compare without regard to case.
        assert!(
            Policy::from_rules([("m", "role:MEMBER")])
                .expect("parses")
                .allows("m", &alice, &mine)
        );
        // Unknown names fall back to `default`, here missing: refused.
        assert!(!p.allows("unknown", &alice, &mine));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "role:admin or",
            "(role:admin",
            "role:admin)",
            "and role:x",
            "admin",
            "http://example.com/check",
            "'unclosed:%(x)s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glance_defaults() {
        let p = Policy::glance_defaults();
        assert_eq!(
            p.names().count(),
            GLANCE_DEFAULTS.len() + GLINT_DEFAULTS.len(),
            "every default parses"
        );
        let image = |owner: &str, visibility: &str| {
            target(&[
                ("project_id", owner),
                ("owner", owner),
                ("visibility", visibility),
            ])
        };
        let member = Credentials::new(Some("p1"), None, &["member", "reader"]);
        let reader = Credentials::new(Some("p1"), None, &["reader"]);
        let admin = Credentials::new(Some("x"), None, &["admin"]);
        let service = Credentials::new(Some("svc"), None, &["service"]);
        assert!(p.allows("download_image", &member, &image("p2", "public")));
        assert!(!p.allows("download_image", &member, &image("p2", "private")));
        assert!(
            !p.allows("download_image", &reader, &image("p1", "private")),
            "readers do not download"
        );
        assert!(p.allows("get_image", &reader, &image("p1", "private")));
        assert!(!p.allows("publicize_image", &member, &image("p1", "private")));
        assert!(p.allows("publicize_image", &admin, &image("p1", "private")));
        assert!(p.allows("fetch_image_location", &service, &image("p1", "private")));
        assert!(!p.allows("fetch_image_location", &member, &image("p1", "private")));
        assert!(
            p.allows("fetch_image_location", &admin, &image("p1", "private")),
            "service_api admits admins too, as Glance's"
        );
        assert!(!p.allows("delete_image_location", &service, &image("p1", "private")));
        assert!(
            p.allows("cache_list", &admin, &Target::new()),
            "through manage_image_cache"
        );
        assert!(p.allows("stores_info_detail", &service, &Target::new()));
        assert!(!p.allows("stores_info_detail", &member, &Target::new()));
        assert!(
            p.allows("get_task", &reader, &Target::new()),
            "default: anyone"
        );
    }

    #[test]
    fn metadef_defaults() {
        let p = Policy::glance_defaults();
        let reader = Credentials::new(Some("p1"), None, &["reader"]);
        let admin = Credentials::new(Some("x"), None, &["admin"]);
        let public = namespace_target(Some("p2"), "public");
        let theirs = namespace_target(Some("p2"), "private");
        let mine = namespace_target(Some("p1"), "private");
        assert!(p.allows("get_metadef_namespace", &reader, &public));
        assert!(p.allows("get_metadef_tags", &reader, &mine));
        assert!(!p.allows("get_metadef_object", &reader, &theirs));
        assert!(!p.allows("add_metadef_object", &reader, &mine));
        assert!(p.allows("delete_metadef_tags", &admin, &theirs));
        let caller = crate::Caller::new(Some("p1"), &["reader"]);
        assert!(p.allows("get_metadef_namespaces", &reader, &project_target(&caller)));
        assert!(!p.allows("add_metadef_namespace", &reader, &project_target(&caller)));
    }

    #[test]
    fn an_images_target() {
        let mut image = crate::Image::new("i1", Some("p1".into()), "now");
        image.visibility = crate::Visibility::Private;
        image.properties.insert("os_distro".into(), "debian".into());
        // Properties that would stand in for the owner's or a member's project.
        image.properties.insert("member_id".into(), "p2".into());
        image.properties.insert("project_id".into(), "p2".into());
        let p = Policy::from_rules([
            ("debian", "'debian':%(os_distro)s"),
            ("member", "project_id:%(member_id)s"),
            ("owner", "project_id:%(project_id)s"),
            ("unprotected", "'False':%(protected)s"),
        ])
        .expect("parses");
        let p2 = crate::Caller::new(Some("p2"), &["member"]);
        let target = image_target(&p2, &image);
        let creds = Credentials::of(&p2);
        assert!(p.allows("debian", &creds, &target));
        assert!(p.allows("unprotected", &creds, &target));
        assert!(!p.allows("member", &creds, &target), "not a member");
        assert!(!p.allows("owner", &creds, &target), "not the owner");
        image.visibility = crate::Visibility::Shared;
        assert!(p.allows("member", &creds, &image_target(&p2, &image)));
    }

    #[test]
    fn what_a_rule_refers_to() {
        let p = Policy::glance_defaults();
        let names = p.referenced(["cache_list"]);
        assert!(names.contains("manage_image_cache") && names.contains("context_is_admin"));
        assert!(!names.contains("get_image"));
        assert!(p.referenced(["no_such_policy"]).contains("default"));
    }

    #[test]
    fn is_admin_follows_context_is_admin() {
        let p = Policy::glance_defaults()
            .overridden(&[
                ("context_is_admin".into(), "role:cloud_admin".into()),
                ("publicize_image".into(), "is_admin:True".into()),
            ])
            .expect("parses");
        let project_admin = crate::Caller::new(Some("p1"), &["admin"]);
        let cloud_admin = crate::Caller::new(Some("p1"), &["cloud_admin"]);
        let none = Target::new();
        assert!(!p.allows("publicize_image", &p.credentials(&project_admin), &none));
        assert!(p.allows("publicize_image", &p.credentials(&cloud_admin), &none));
        assert!(!p.is_admin(&project_admin) && p.is_admin(&cloud_admin));
    }

    #[test]
    fn what_overrides_change() {
        let defaults = Policy::glance_defaults();
        assert!(!defaults.overrides("get_image"));
        let restated: Vec<(String, String)> = GLANCE_DEFAULTS
            .iter()
            .map(|(n, r)| (n.to_string(), r.to_string()))
            .collect();
        let same = defaults.overridden(&restated).expect("parses");
        assert!(
            !same.overrides("get_image"),
            "restating a default changes nothing"
        );
        let admin = defaults
            .overridden(&[("context_is_admin".into(), "role:cloud_admin".into())])
            .expect("parses");
        assert!(
            admin.overrides("get_image"),
            "through rule:context_is_admin"
        );
        assert!(admin.overrides("cache_list"), "two rules down");
        assert!(
            !admin.overrides("get_task"),
            "rule:default does not refer to it"
        );
        let narrowed = defaults
            .overridden(&[("get_image".into(), "role:admin".into())])
            .expect("parses");
        assert!(narrowed.overrides("get_image"));
        assert!(!narrowed.overrides("get_images"));
        let by_default = defaults
            .overridden(&[("default".into(), "role:admin".into())])
            .expect("parses");
        assert!(
            by_default.overrides("no_such_policy"),
            "falls back to default"
        );
        assert!(by_default.overrides("get_task"));
    }

    #[test]
    fn policy_files_as_operators_write_them() {
        let yaml = r#"
# Readers may not download; only admins publicize.
"download_image": "role:admin or (role:member and project_id:%(project_id)s)"
publicize_image: 'role:admin'   # unchanged
"fetch_image_location": "rule:service_api or role:admin"
"get_task": ""
"#;
        let overrides = read_file(yaml).expect("reads");
        assert_eq!(overrides.len(), 4);
        assert_eq!(overrides[3], ("get_task".to_string(), String::new()));
        let p = Policy::glance_defaults()
            .overridden(&overrides)
            .expect("parses");
        let member = Credentials::new(Some("p1"), None, &["member"]);
        let public = target(&[("project_id", "p2"), ("visibility", "public")]);
        assert!(
            !p.allows("download_image", &member, &public),
            "only their own now"
        );
        let admin = Credentials::new(Some("x"), None, &["admin"]);
        let service = Credentials::new(Some("x"), None, &["service"]);
        assert!(p.allows("fetch_image_location", &admin, &public));
        assert!(p.allows("fetch_image_location", &service, &public));
        let json = "{\n  \"publicize_image\": \"!\",\n  \"copy_image\": \"role:admin\"\n}\n";
        let overrides = read_file(json).expect("json reads");
        let p = Policy::glance_defaults()
            .overridden(&overrides)
            .expect("parses");
        assert!(!p.allows("publicize_image", &admin, &public));
        for bad in [
            "publicize_image: [role:admin]",
            "\"x\": \"role:admin",
            "just words",
        ] {
            assert!(read_file(bad).is_err(), "{bad}");
        }
        let broken = read_file("\"x\": \"role:admin or\"").expect("reads");
        assert!(matches!(
            Policy::glance_defaults().overridden(&broken),
            Err(PolicyError::Rule { .. })
        ));
    }
}
