//! Output formats for client verbs: `json` (default when standard output is not a terminal), `table` (default on
//! a terminal) and `tsv`.

use anyhow::Result;
use serde_json::Value;
use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
    Tsv,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// Chooses the format for this run.
pub fn set(f: Option<Format>) {
    let f = f.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let _ = FORMAT.set(f);
}

pub fn format() -> Format {
    *FORMAT.get().unwrap_or(&Format::Json)
}

/// Scalar fields of an object, one level of nesting flattened (`attributes.enabled`).
fn columns(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(m) = v {
        for (k, x) in m {
            match x {
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        if !iv.is_object() && !iv.is_array() {
                            out.push((format!("{k}.{ik}"), scalar(iv)));
                        }
                    }
                }
                Value::Array(_) => {}
                other => out.push((k.clone(), scalar(other))),
            }
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn rows(v: &Value) -> (Vec<String>, Vec<Vec<String>>) {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut header: Vec<String> = Vec::new();
    for i in &items {
        for (k, _) in columns(i) {
            if !header.contains(&k) {
                header.push(k);
            }
        }
    }
    let rows = items
        .iter()
        .map(|i| {
            let c = columns(i);
            header
                .iter()
                .map(|h| {
                    c.iter()
                        .find(|(k, _)| k == h)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    (header, rows)
}

/// Writes a line to standard output. A reader that went away (`keyhaven … | head`) ends the program quietly, as
/// it does other command-line tools, instead of a panic.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

/// Prints a value in the chosen format.
pub fn print<T: serde::Serialize>(v: &T) -> Result<()> {
    let v = serde_json::to_value(v)?;
    match format() {
        Format::Json => emit(&serde_json::to_string_pretty(&v)?),
        _ => {
            let (header, rows) = rows(&v);
            print_rows(&header, &rows);
        }
    }
    Ok(())
}

/// Prints a list in the chosen format: JSON with every field; a table or TSV with `columns` only, in that order.
pub fn print_columns<T: serde::Serialize>(items: &[T], columns: &[&str]) -> Result<()> {
    if format() == Format::Json {
        return print(&items);
    }
    let mut rows = Vec::with_capacity(items.len());
    for i in items {
        let v = serde_json::to_value(i)?;
        rows.push(
            columns
                .iter()
                .map(|c| v.get(c).map(scalar).unwrap_or_default())
                .collect(),
        );
    }
    let header: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    print_rows(&header, &rows);
    Ok(())
}

/// Prints rows as a table or as TSV.
fn print_rows(header: &[String], rows: &[Vec<String>]) {
    if format() == Format::Tsv {
        for r in rows {
            emit(&r.join("\t"));
        }
        return;
    }
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    emit(&line(header));
    emit(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for r in rows {
        emit(&line(r));
    }
}
