//! Printing: raw JSON for `--json`, text for people, and the small helpers both use.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::Common;
use crate::admin::{Admin, Call, Reply};

/// The connection and output mode of one admin command.
pub struct Ctx {
    /// The admin API client.
    pub admin: Admin,
    /// `--json`.
    pub json: bool,
    /// `--data`, for the commands suggested next.
    pub data: std::path::PathBuf,
}

impl Ctx {
    /// Connect to the admin API of the Airlock using `common.data`.
    pub fn connect(common: &Common) -> Result<Ctx> {
        Ok(Ctx {
            admin: Admin::connect(&common.data)?,
            json: common.json,
            data: common.data.clone(),
        })
    }

    /// Send `call`; with `--json`, print the raw answer.
    pub fn call(&self, call: Call) -> Result<Reply> {
        let reply = self.admin.call(&call)?;
        if self.json {
            println!("{}", reply.raw);
        }
        Ok(reply)
    }

    /// Send `call` without printing the answer, even with `--json` (look-ups a command makes
    /// on the side, e.g. a group's ARN before attaching a policy to it).
    pub fn lookup(&self, call: Call) -> Result<Reply> {
        Ok(self.admin.call(&call)?)
    }

    /// Send a list call and follow `nextToken` / `nextMarker` to the end; every page is
    /// printed with `--json`. Returns the items under `key` from all pages.
    pub fn list_all(&self, call: Call, key: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next: Option<(&'static str, String)> = None;
        // A bound, so a server that keeps returning a token cannot loop the CLI forever.
        for _ in 0..10_000 {
            let mut c = call.clone();
            if let Some((param, token)) = &next {
                c = c.query(param, token.clone());
            }
            let reply = self.call(c)?;
            if let Some(arr) = reply.body.get(key).and_then(Value::as_array) {
                items.extend(arr.iter().cloned());
            }
            next = match (
                reply.body.get("nextToken").and_then(Value::as_str),
                reply.body.get("nextMarker").and_then(Value::as_str),
            ) {
                (Some(t), _) if !t.is_empty() => Some(("nextToken", t.to_string())),
                (_, Some(m)) if !m.is_empty() => Some(("marker", m.to_string())),
                _ => None,
            };
            if next.is_none() {
                return Ok(items);
            }
        }
        anyhow::bail!("the admin API kept returning page tokens; stopped after 10000 pages")
    }

    /// `--data DIR` as the commands printed for the next step should carry it.
    pub fn data_arg(&self) -> String {
        data_arg(&self.data)
    }

    /// Print a line for people (nothing with `--json`).
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            println!("{}", line.as_ref());
        }
    }
}

/// `--data DIR` for a suggested command, or nothing when DIR is the default.
pub fn data_arg(data: &Path) -> String {
    if data == Path::new("./airlock-data") {
        String::new()
    } else {
        format!(" --data {}", shell_quote(&data.display().to_string()))
    }
}

/// A field of a JSON object as text: strings as they are, other values as JSON, `-` when
/// missing or null. `path` walks nested objects.
pub fn field(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for key in path {
        match cur.get(key) {
            Some(next) => cur = next,
            None => return "-".to_string(),
        }
    }
    match cur {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Format rows as aligned columns under `headers`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                s.push_str(cell);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Quote `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Read a text file the user named.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Write a certificate or other public file (0644).
pub fn write_public(path: &Path, contents: &str) -> Result<()> {
    airlock_pki::files::write_public(path, contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Write a private key (0600).
pub fn write_secret(path: &Path, contents: &str) -> Result<()> {
    airlock_pki::files::write_secret(path, contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
