//! A small builder for queries whose shape depends on the request (list filters), with `$n`
//! placeholders that both SQLite and PostgreSQL accept.

use std::fmt::Write;

use sqlx::any::AnyArguments;
use sqlx::query::Query;

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    /// Appends raw SQL.
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`.
    pub(crate) fn arg(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    pub(crate) fn text(&mut self, v: impl Into<String>) -> &mut Sql {
        self.arg(Arg::Text(v.into()))
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Sql {
        self.arg(Arg::Int(v))
    }

    /// `($a, $b, ...)` for an `IN` list.
    pub(crate) fn list(&mut self, items: &[String]) -> &mut Sql {
        self.push("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(item.clone());
        }
        self.push(")")
    }

    pub(crate) fn query(&self) -> Query<'_, sqlx::Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(n) => q.bind(*n),
            };
        }
        q
    }
}
