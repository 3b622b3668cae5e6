//! Session exports: the finished session as JSON, Markdown and CSV for the facilitator to take
//! away. The topic, goal and outcomes, every sheet as its grid of rows, build-on chains,
//! clusters, merged duplicates and votes — never authors (the engine never hands them out).
//!
//! Pure formatting of views the engine built; CSV cells are safe from formula injection.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::protocol::{ClusterView, MergeView, ResultView, SheetView};

/// Everything an export holds.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// Room code.
    pub code: String,
    /// Problem statement.
    pub topic: String,
    /// The session's goal.
    pub goal: Option<String>,
    /// Expected outcomes.
    pub outcomes: Vec<String>,
    /// Slots per row.
    pub ideas_per_round: u32,
    /// Every sheet with its rows.
    pub sheets: Vec<SheetView>,
    /// Named clusters.
    pub clusters: Vec<ClusterView>,
    /// Duplicates merged into other ideas.
    pub merged: Vec<MergeView>,
    /// The ranking, once voting has closed.
    pub results: Option<Vec<ResultView>>,
}

/// One idea with where it stands.
struct Flat<'a> {
    sheet: usize,
    round: u32,
    slot: usize,
    id: &'a str,
    text: &'a str,
    builds_on: Option<&'a str>,
}

impl Export {
    fn flat(&self) -> Vec<Flat<'_>> {
        let mut out = Vec::new();
        for (n, s) in self.sheets.iter().enumerate() {
            for row in &s.rows {
                for (slot, i) in row.ideas.iter().enumerate() {
                    out.push(Flat {
                        sheet: n + 1,
                        round: row.round,
                        slot: slot + 1,
                        id: &i.id,
                        text: &i.text,
                        builds_on: i.builds_on.as_deref(),
                    });
                }
            }
        }
        out
    }

    fn texts(&self) -> BTreeMap<&str, &str> {
        self.sheets
            .iter()
            .flat_map(|s| s.rows.iter().flat_map(|r| r.ideas.iter()))
            .map(|i| (i.id.as_str(), i.text.as_str()))
            .collect()
    }

    fn cluster_of(&self) -> BTreeMap<&str, &str> {
        self.clusters
            .iter()
            .flat_map(|c| c.ideas.iter().map(move |i| (i.as_str(), c.name.as_str())))
            .collect()
    }

    fn votes(&self) -> BTreeMap<&str, (u32, u32)> {
        self.results
            .iter()
            .flatten()
            .map(|r| (r.id.as_str(), (r.votes, r.rank)))
            .collect()
    }

    /// Pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One row per idea.
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let cluster = self.cluster_of();
        let votes = self.votes();
        let merged: BTreeMap<&str, &str> = self
            .merged
            .iter()
            .map(|m| (m.idea.as_str(), m.into.as_str()))
            .collect();
        let _ = w.write_record([
            "sheet",
            "round",
            "slot",
            "idea_id",
            "text",
            "builds_on",
            "cluster",
            "merged_into",
            "votes",
            "rank",
        ]);
        for f in self.flat() {
            let (v, rank) = match votes.get(f.id) {
                Some((v, r)) => (v.to_string(), r.to_string()),
                None => (String::new(), String::new()),
            };
            let _ = w.write_record([
                f.sheet.to_string(),
                f.round.to_string(),
                f.slot.to_string(),
                f.id.to_owned(),
                csv_safe(f.text),
                f.builds_on.unwrap_or("").to_owned(),
                cluster.get(f.id).map(|c| csv_safe(c)).unwrap_or_default(),
                merged.get(f.id).copied().unwrap_or("").to_owned(),
                v,
                rank,
            ]);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// A readable report.
    pub fn markdown(&self) -> String {
        let texts = self.texts();
        let votes = self.votes();
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n", md_inline(&self.topic));
        let _ = writeln!(md, "Session `{}` · brainwrite 6-3-5\n", self.code);
        if let Some(g) = &self.goal {
            let _ = writeln!(md, "**Goal:** {}\n", md_inline(g));
        }
        if !self.outcomes.is_empty() {
            let _ = writeln!(md, "**Expected outcomes:**\n");
            for o in &self.outcomes {
                let _ = writeln!(md, "- {}", md_inline(o));
            }
            md.push('\n');
        }
        if let Some(results) = &self.results {
            let _ = writeln!(md, "## Ranked by votes\n");
            for r in results.iter().filter(|r| r.votes > 0) {
                let _ = writeln!(
                    md,
                    "{}. {} — {} vote{} `{}`",
                    r.rank,
                    md_inline(&r.text),
                    r.votes,
                    if r.votes == 1 { "" } else { "s" },
                    r.id
                );
            }
            md.push('\n');
        }
        if !self.clusters.is_empty() {
            let _ = writeln!(md, "## Clusters\n");
            for c in &self.clusters {
                let _ = writeln!(md, "### {}\n", md_inline(&c.name));
                for i in &c.ideas {
                    let t = texts.get(i.as_str()).copied().unwrap_or("");
                    let _ = writeln!(md, "- {} `{i}`{}", md_inline(t), vote_note(&votes, i));
                }
                md.push('\n');
            }
        }
        if !self.merged.is_empty() {
            let _ = writeln!(md, "## Merged duplicates\n");
            for m in &self.merged {
                let _ = writeln!(
                    md,
                    "- {} `{}` → {} `{}`",
                    md_inline(texts.get(m.idea.as_str()).copied().unwrap_or("")),
                    m.idea,
                    md_inline(texts.get(m.into.as_str()).copied().unwrap_or("")),
                    m.into
                );
            }
            md.push('\n');
        }
        let chains: Vec<&Flat<'_>> = Vec::new();
        let flat = self.flat();
        let chains = flat
            .iter()
            .filter(|f| f.builds_on.is_some())
            .fold(chains, |mut c, f| {
                c.push(f);
                c
            });
        if !chains.is_empty() {
            let _ = writeln!(md, "## Build-on chains\n");
            for f in chains {
                let mut line = format!("- {} `{}`", md_inline(f.text), f.id);
                let mut next = f.builds_on;
                let mut guard = 0;
                while let Some(id) = next {
                    let t = texts.get(id).copied().unwrap_or("");
                    let _ = write!(line, " ← builds on {} `{id}`", md_inline(t));
                    next = flat.iter().find(|g| g.id == id).and_then(|g| g.builds_on);
                    guard += 1;
                    if guard > 64 {
                        break;
                    }
                }
                let _ = writeln!(md, "{line}");
            }
            md.push('\n');
        }
        let _ = writeln!(md, "## Sheets\n");
        let per = self.ideas_per_round.max(1) as usize;
        for (n, s) in self.sheets.iter().enumerate() {
            let _ = writeln!(md, "### Sheet {} `{}`\n", n + 1, s.id);
            if s.rows.is_empty() {
                let _ = writeln!(md, "_No ideas on this sheet._\n");
                continue;
            }
            let _ = write!(md, "| Round |");
            for k in 1..=per {
                let _ = write!(md, " Idea {k} |");
            }
            let _ = write!(md, "\n|---|");
            for _ in 0..per {
                md.push_str("---|");
            }
            md.push('\n');
            for row in &s.rows {
                let _ = write!(md, "| {} |", row.round);
                for k in 0..per {
                    match row.ideas.get(k) {
                        Some(i) => {
                            let link = i
                                .builds_on
                                .as_deref()
                                .map(|b| format!(" (↳ `{b}`)"))
                                .unwrap_or_default();
                            let _ = write!(
                                md,
                                " {} `{}`{link}{} |",
                                md_cell(&i.text),
                                i.id,
                                vote_note(&votes, &i.id)
                            );
                        }
                        None => md.push_str("  |"),
                    }
                }
                md.push('\n');
            }
            md.push('\n');
        }
        md
    }
}

fn vote_note(votes: &BTreeMap<&str, (u32, u32)>, id: &str) -> String {
    match votes.get(id) {
        Some((v, _)) if *v > 0 => format!(" · {v} vote{}", if *v == 1 { "" } else { "s" }),
        _ => String::new(),
    }
}

/// Escape text for Markdown so user text cannot become markup or links.
fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: inline-escaped (pipes included).
fn md_cell(s: &str) -> String {
    md_inline(s)
}

/// A cell a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, tab or
/// carriage return is prefixed with `'`.
pub fn csv_safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{IdeaView, RowView};

    fn sample() -> Export {
        let idea = |id: &str, text: &str, b: Option<&str>| IdeaView {
            id: id.into(),
            text: text.into(),
            builds_on: b.map(Into::into),
        };
        Export {
            code: "ABCD2345".into(),
            topic: "How | might *we*?".into(),
            goal: Some("Pick three".into()),
            outcomes: vec!["A shortlist".into()],
            ideas_per_round: 2,
            sheets: vec![SheetView {
                id: "s1".into(),
                rows: vec![
                    RowView {
                        round: 1,
                        ideas: vec![
                            idea("i1", "=HYPERLINK(\"x\")", None),
                            idea("i2", "plain", None),
                        ],
                    },
                    RowView {
                        round: 2,
                        ideas: vec![idea("i3", "better, \"quoted\"", Some("i2"))],
                    },
                ],
            }],
            clusters: vec![ClusterView {
                id: "c1".into(),
                name: "@Ops".into(),
                ideas: vec!["i2".into()],
            }],
            merged: vec![MergeView {
                idea: "i3".into(),
                into: "i2".into(),
            }],
            results: Some(vec![ResultView {
                id: "i2".into(),
                text: "plain".into(),
                votes: 4,
                rank: 1,
            }]),
        }
    }

    #[test]
    fn csv_has_every_idea_and_no_formula() {
        let csv = sample().csv();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[0][4], "'=HYPERLINK(\"x\")");
        assert_eq!(&rows[1][6], "'@Ops");
        assert_eq!(&rows[1][8], "4");
        assert_eq!(&rows[1][9], "1");
        assert_eq!(&rows[2][4], "better, \"quoted\"");
        assert_eq!(&rows[2][5], "i2");
        assert_eq!(&rows[2][7], "i2");
    }

    #[test]
    fn markdown_escapes_and_shows_chains_clusters_votes() {
        let md = sample().markdown();
        assert!(md.starts_with("# How \\| might \\*we\\*?"));
        assert!(md.contains("**Goal:** Pick three"));
        assert!(md.contains("1. plain — 4 votes `i2`"));
        assert!(md.contains("### @Ops"));
        assert!(md.contains("better, \"quoted\" `i3` ← builds on plain `i2`"));
        assert!(md.contains("| 2 | better, \"quoted\" `i3` (↳ `i2`) |  |"));
    }

    #[test]
    fn json_round_trips_the_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        assert_eq!(v["sheets"][0]["rows"][1]["ideas"][0]["builds_on"], "i2");
        assert_eq!(v["results"][0]["votes"], 4);
        assert_eq!(v["merged"][0]["into"], "i2");
    }
}
