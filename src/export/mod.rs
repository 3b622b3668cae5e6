//! Session exports: the finished session as JSON, Markdown, CSV and a printable HTML report
//! ([`report`]) for the facilitator to take away. The topic, goal and outcomes, every sheet as
//! its grid of rows, build-on chains, clusters, merged duplicates and votes — never authors
//! (the engine never hands them out).
//!
//! Pure formatting of views the engine built; CSV cells are safe from formula injection.
//!
//! Headings, labels and the CSV header row are written in the room's language ([`Lang`]);
//! idea texts, names of clusters and ids are never touched. JSON keeps the same keys in every
//! language (a machine reads it): it only gains a top-level `language` (docs/i18n.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::protocol::{ClusterView, IdeaView, MergeView, ResultView, SheetView};

pub mod report;

pub use report::Facts;

/// A language of the exports: the languages of the web client (`crate::room::LANGUAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Arabic.
    Ar,
}

/// The words of an export in one language.
struct Labels {
    session: &'static str,
    goal: &'static str,
    outcomes: &'static str,
    ranked: &'static str,
    clusters: &'static str,
    merged: &'static str,
    chains: &'static str,
    builds_on: &'static str,
    sheets: &'static str,
    sheet: &'static str,
    no_ideas: &'static str,
    round: &'static str,
    idea: &'static str,
    /// The mark of a sketch idea in Markdown, `(sketch)`, before its caption.
    sketch: &'static str,
    csv: [&'static str; 11],
}

impl Lang {
    /// The language of a BCP 47 primary tag (`de`), or `None` for one we do not write.
    pub fn parse(tag: &str) -> Option<Lang> {
        match tag {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            "fr" => Some(Lang::Fr),
            "es" => Some(Lang::Es),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }

    /// Its tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::Ar => "ar",
        }
    }

    /// "4 votes" with the language's plural rule (CLDR's categories).
    fn votes(self, n: u32) -> String {
        match self {
            Lang::En => format!("{n} vote{}", if n == 1 { "" } else { "s" }),
            Lang::De => format!("{n} Stimme{}", if n == 1 { "" } else { "n" }),
            Lang::Fr => format!("{n} voix"),
            Lang::Es => format!("{n} voto{}", if n == 1 { "" } else { "s" }),
            Lang::Ar => match (n, n % 100) {
                (1, _) => "صوت واحد".to_owned(),
                (2, _) => "صوتان".to_owned(),
                (_, 3..=10) => format!("{n} أصوات"),
                (_, 11..=99) => format!("{n} صوتًا"),
                _ => format!("{n} صوت"),
            },
        }
    }

    fn labels(self) -> &'static Labels {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Es => &ES,
            Lang::Ar => &AR,
        }
    }
}

const EN: Labels = Labels {
    session: "Session",
    goal: "Goal",
    outcomes: "Expected outcomes",
    ranked: "Ranked by votes",
    clusters: "Clusters",
    merged: "Merged duplicates",
    chains: "Build-on chains",
    builds_on: "builds on",
    sheets: "Sheets",
    sheet: "Sheet",
    no_ideas: "No ideas on this sheet.",
    round: "Round",
    idea: "Idea",
    sketch: "sketch",
    csv: [
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
        "kind",
    ],
};

const DE: Labels = Labels {
    session: "Sitzung",
    goal: "Ziel",
    outcomes: "Erwartete Ergebnisse",
    ranked: "Nach Stimmen geordnet",
    clusters: "Cluster",
    merged: "Zusammengeführte Doppelungen",
    chains: "Ketten von Ideen, die aufeinander aufbauen",
    builds_on: "baut auf",
    sheets: "Blätter",
    sheet: "Blatt",
    no_ideas: "Keine Ideen auf diesem Blatt.",
    round: "Runde",
    idea: "Idee",
    sketch: "Skizze",
    csv: [
        "Blatt",
        "Runde",
        "Feld",
        "Ideen-ID",
        "Text",
        "baut auf",
        "Cluster",
        "zusammengeführt mit",
        "Stimmen",
        "Rang",
        "Art",
    ],
};

const FR: Labels = Labels {
    session: "Séance",
    goal: "Objectif",
    outcomes: "Résultats attendus",
    ranked: "Classement par votes",
    clusters: "Regroupements",
    merged: "Doublons fusionnés",
    chains: "Idées qui rebondissent les unes sur les autres",
    builds_on: "rebondit sur",
    sheets: "Feuilles",
    sheet: "Feuille",
    no_ideas: "Aucune idée sur cette feuille.",
    round: "Tour",
    idea: "Idée",
    sketch: "croquis",
    csv: [
        "feuille",
        "tour",
        "case",
        "id_idee",
        "texte",
        "rebondit_sur",
        "regroupement",
        "fusionnee_avec",
        "votes",
        "rang",
        "type",
    ],
};

const ES: Labels = Labels {
    session: "Sesión",
    goal: "Objetivo",
    outcomes: "Resultados esperados",
    ranked: "Por número de votos",
    clusters: "Grupos",
    merged: "Duplicados fusionados",
    chains: "Cadenas de ideas que se apoyan en otras",
    builds_on: "se apoya en",
    sheets: "Hojas",
    sheet: "Hoja",
    no_ideas: "No hay ideas en esta hoja.",
    round: "Ronda",
    idea: "Idea",
    sketch: "boceto",
    csv: [
        "hoja",
        "ronda",
        "casilla",
        "id_idea",
        "texto",
        "se_apoya_en",
        "grupo",
        "fusionada_con",
        "votos",
        "puesto",
        "tipo",
    ],
};

const AR: Labels = Labels {
    session: "الجلسة",
    goal: "الهدف",
    outcomes: "النتائج المتوقعة",
    ranked: "الترتيب حسب الأصوات",
    clusters: "المجموعات",
    merged: "الأفكار المكررة المدمجة",
    chains: "سلاسل البناء على الأفكار",
    builds_on: "تبني على",
    sheets: "الأوراق",
    sheet: "الورقة",
    no_ideas: "لا توجد أفكار على هذه الورقة.",
    round: "الجولة",
    idea: "الفكرة",
    sketch: "رسم",
    csv: [
        "الورقة",
        "الجولة",
        "الخانة",
        "معرّف الفكرة",
        "النص",
        "تبني على",
        "المجموعة",
        "مدمجة في",
        "الأصوات",
        "الترتيب",
        "النوع",
    ],
};

/// Everything an export holds.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// Room code.
    pub code: String,
    /// The method the room ran.
    pub method: crate::room::Method,
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
    /// The room's language, if the facilitator set one: the exports' default.
    pub language: Option<String>,
}

/// One idea with where it stands.
struct Flat<'a> {
    sheet: usize,
    round: u32,
    slot: usize,
    id: &'a str,
    text: &'a str,
    builds_on: Option<&'a str>,
    /// A C-Sketch layer: `text` is its caption, possibly empty.
    sketch: bool,
}

/// Whether an idea is a sketch (a C-Sketch layer with strokes), whatever its caption.
fn is_sketch(i: &IdeaView) -> bool {
    i.sketch.as_ref().is_some_and(|s| !s.is_empty())
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
                        sketch: is_sketch(i),
                    });
                }
            }
        }
        out
    }

    /// Every idea by id: its text and whether it is a sketch.
    fn texts(&self) -> BTreeMap<&str, (&str, bool)> {
        self.sheets
            .iter()
            .flat_map(|s| s.rows.iter().flat_map(|r| r.ideas.iter()))
            .map(|i| (i.id.as_str(), (i.text.as_str(), is_sketch(i))))
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

    /// Pretty JSON (English).
    pub fn json(&self) -> String {
        self.json_in(Lang::En)
    }

    /// Pretty JSON: the same keys in every language, plus `language` at the top.
    pub fn json_in(&self, lang: Lang) -> String {
        let value = serde_json::to_value(self).map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.insert("language".to_owned(), lang.tag().into());
            }
            v
        });
        value
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One row per idea (English header).
    pub fn csv(&self) -> String {
        self.csv_in(Lang::En)
    }

    /// One row per idea, under a header row in `lang`. The last column, `kind`, is `text` or
    /// `sketch` in every language (a sketch's `text` is its caption, possibly empty).
    pub fn csv_in(&self, lang: Lang) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let cluster = self.cluster_of();
        let votes = self.votes();
        let merged: BTreeMap<&str, &str> = self
            .merged
            .iter()
            .map(|m| (m.idea.as_str(), m.into.as_str()))
            .collect();
        let _ = w.write_record(lang.labels().csv);
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
                if f.sketch { "sketch" } else { "text" }.to_owned(),
            ]);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// A readable report (English).
    pub fn markdown(&self) -> String {
        self.markdown_in(Lang::En)
    }

    /// A readable report with its headings in `lang`.
    pub fn markdown_in(&self, lang: Lang) -> String {
        let l = lang.labels();
        let texts = self.texts();
        let votes = self.votes();
        let mut md = String::new();
        let _ = writeln!(md, "# {}\n", md_inline(&self.topic));
        let _ = writeln!(
            md,
            "{} `{}` · {} · brainwrite\n",
            l.session,
            self.code,
            lang.method(self.method)
        );
        // An idea as Markdown: its text, escaped; a sketch is marked, before its caption.
        let idea = |text: &str, sketch: bool| md_idea(l, text, sketch);
        let by_id = |id: &str| {
            let (t, sketch) = texts.get(id).copied().unwrap_or(("", false));
            idea(t, sketch)
        };
        if let Some(g) = &self.goal {
            let _ = writeln!(md, "**{}:** {}\n", l.goal, md_inline(g));
        }
        if !self.outcomes.is_empty() {
            let _ = writeln!(md, "**{}:**\n", l.outcomes);
            for o in &self.outcomes {
                let _ = writeln!(md, "- {}", md_inline(o));
            }
            md.push('\n');
        }
        if let Some(results) = &self.results {
            let _ = writeln!(md, "## {}\n", l.ranked);
            for r in results.iter().filter(|r| r.votes > 0) {
                let _ = writeln!(
                    md,
                    "{}. {} — {} `{}`",
                    r.rank,
                    idea(&r.text, r.sketch.as_ref().is_some_and(|s| !s.is_empty())),
                    lang.votes(r.votes),
                    r.id
                );
            }
            md.push('\n');
        }
        if !self.clusters.is_empty() {
            let _ = writeln!(md, "## {}\n", l.clusters);
            for c in &self.clusters {
                let _ = writeln!(md, "### {}\n", md_inline(&c.name));
                for i in &c.ideas {
                    let _ = writeln!(md, "- {} `{i}`{}", by_id(i), vote_note(lang, &votes, i));
                }
                md.push('\n');
            }
        }
        if !self.merged.is_empty() {
            let _ = writeln!(md, "## {}\n", l.merged);
            for m in &self.merged {
                let _ = writeln!(
                    md,
                    "- {} `{}` → {} `{}`",
                    by_id(&m.idea),
                    m.idea,
                    by_id(&m.into),
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
            let _ = writeln!(md, "## {}\n", l.chains);
            for f in chains {
                let mut line = format!("- {} `{}`", idea(f.text, f.sketch), f.id);
                let mut next = f.builds_on;
                let mut guard = 0;
                while let Some(id) = next {
                    let _ = write!(line, " ← {} {} `{id}`", l.builds_on, by_id(id));
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
        let _ = writeln!(md, "## {}\n", l.sheets);
        let per = self.ideas_per_round.max(1) as usize;
        for (n, s) in self.sheets.iter().enumerate() {
            let _ = writeln!(md, "### {} {} `{}`\n", l.sheet, n + 1, s.id);
            if s.rows.is_empty() {
                let _ = writeln!(md, "_{}_\n", l.no_ideas);
                continue;
            }
            let _ = write!(md, "| {} |", l.round);
            for k in 1..=per {
                let _ = write!(md, " {} {k} |", l.idea);
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
                                md_idea(l, &i.text, is_sketch(i)),
                                i.id,
                                vote_note(lang, &votes, &i.id)
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

fn vote_note(lang: Lang, votes: &BTreeMap<&str, (u32, u32)>, id: &str) -> String {
    match votes.get(id) {
        Some((v, _)) if *v > 0 => format!(" · {}", lang.votes(*v)),
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

/// An idea's text, inline-escaped (pipes included, so it fits a table cell); a sketch is
/// `_(sketch)_` before its caption, or alone when it has none.
fn md_idea(l: &Labels, text: &str, sketch: bool) -> String {
    match (sketch, text.is_empty()) {
        (false, _) => md_inline(text),
        (true, true) => format!("_({})_", l.sketch),
        (true, false) => format!("_({})_ {}", l.sketch, md_inline(text)),
    }
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
    use crate::protocol::RowView;

    fn sample() -> Export {
        let idea = |id: &str, text: &str, b: Option<&str>| IdeaView {
            id: id.into(),
            text: text.into(),
            builds_on: b.map(Into::into),
            sketch: None,
        };
        Export {
            code: "ABCD2345".into(),
            method: crate::room::Method::SixThreeFive,
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
                sketch: None,
            }]),
            language: None,
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
        assert!(rows.iter().all(|r| r.len() == 11 && &r[10] == "text"));
        assert!(csv.starts_with(
            "sheet,round,slot,idea_id,text,builds_on,cluster,merged_into,votes,rank,kind\n"
        ));
    }

    /// A C-Sketch room: a captioned sketch, one without a caption that builds on it, and a
    /// caption with no strokes (a text idea).
    fn sketches() -> Export {
        let sketch =
            |id: &str, text: &str, b: Option<&str>, strokes: Option<Vec<Vec<u16>>>| IdeaView {
                id: id.into(),
                text: text.into(),
                builds_on: b.map(Into::into),
                sketch: strokes,
            };
        Export {
            code: "SKET2345".into(),
            method: crate::room::Method::CSketch,
            topic: "Draw a bus stop".into(),
            goal: None,
            outcomes: vec![],
            ideas_per_round: 1,
            sheets: vec![SheetView {
                id: "s1".into(),
                rows: vec![
                    RowView {
                        round: 1,
                        ideas: vec![sketch(
                            "i1",
                            "A *green* roof",
                            None,
                            Some(vec![vec![1, 2, 3, 4]]),
                        )],
                    },
                    RowView {
                        round: 2,
                        ideas: vec![sketch("i2", "", Some("i1"), Some(vec![vec![5, 5]]))],
                    },
                    RowView {
                        round: 3,
                        ideas: vec![sketch("i3", "Just words", None, None)],
                    },
                ],
            }],
            clusters: vec![ClusterView {
                id: "c1".into(),
                name: "Roofs".into(),
                ideas: vec!["i2".into()],
            }],
            merged: vec![],
            results: Some(vec![ResultView {
                id: "i2".into(),
                text: String::new(),
                votes: 2,
                rank: 1,
                sketch: Some(vec![vec![5, 5]]),
            }]),
            language: None,
        }
    }

    #[test]
    fn csv_marks_sketches_in_a_last_column_and_keeps_the_others() {
        let csv = sketches().csv();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(r.headers().unwrap().get(10), Some("kind"));
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        let kinds: Vec<(&str, &str, &str)> = rows.iter().map(|r| (&r[3], &r[4], &r[10])).collect();
        assert_eq!(
            kinds,
            [
                ("i1", "A *green* roof", "sketch"),
                ("i2", "", "sketch"),
                ("i3", "Just words", "text"),
            ]
        );
        assert_eq!(
            (&rows[1][5], &rows[1][6], &rows[1][8]),
            ("i1", "Roofs", "2")
        );
        // The header is translated, the values are not.
        let de = sketches().csv_in(Lang::De);
        assert!(de.lines().next().unwrap().ends_with(",Rang,Art"), "{de}");
        assert!(de.contains(",sketch\n") && de.contains(",text\n"));
        for lang in [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Ar] {
            assert_eq!(lang.labels().csv.len(), 11);
        }
    }

    #[test]
    fn markdown_marks_sketches_wherever_an_idea_is_named() {
        let md = sketches().markdown();
        assert!(
            md.contains("Session `SKET2345` · C-Sketch · brainwrite"),
            "{md}"
        );
        // On the sheet: the mark and the caption, escaped; the mark alone without one.
        assert!(
            md.contains("| 1 | _(sketch)_ A \\*green\\* roof `i1` |"),
            "{md}"
        );
        assert!(
            md.contains("| 2 | _(sketch)_ `i2` (↳ `i1`) · 2 votes |"),
            "{md}"
        );
        assert!(md.contains("| 3 | Just words `i3` |"), "{md}");
        // In the ranking, the cluster and the chain.
        assert!(md.contains("1. _(sketch)_ — 2 votes `i2`"), "{md}");
        assert!(
            md.contains("### Roofs\n\n- _(sketch)_ `i2` · 2 votes"),
            "{md}"
        );
        assert!(
            md.contains("- _(sketch)_ `i2` ← builds on _(sketch)_ A \\*green\\* roof `i1`"),
            "{md}"
        );
        let de = sketches().markdown_in(Lang::De);
        assert!(
            de.contains("| 1 | _(Skizze)_ A \\*green\\* roof `i1` |"),
            "{de}"
        );
        // A 6-3-5 room has no mark.
        let plain = sample().markdown();
        assert!(!plain.contains("(sketch)"));
        assert!(plain.contains("Session `ABCD2345` · Brainwriting 6-3-5 · brainwrite"));
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
    fn markdown_and_csv_headings_follow_the_language_and_ideas_do_not() {
        let de = sample().markdown_in(Lang::De);
        assert!(de.contains("**Ziel:** Pick three"), "{de}");
        assert!(de.contains("## Nach Stimmen geordnet"));
        assert!(de.contains("1. plain — 4 Stimmen `i2`"));
        assert!(de.contains("### Blatt 1 `s1`"));
        assert!(de.contains("| Runde | Idee 1 | Idee 2 |"));
        assert!(de.contains("← baut auf plain `i2`"));
        assert!(!de.contains("Sheet") && !de.contains("Goal"));
        let ar = sample().markdown_in(Lang::Ar);
        assert!(ar.contains("## الترتيب حسب الأصوات"), "{ar}");
        assert!(ar.contains("4 أصوات"));
        assert!(ar.contains("=HYPERLINK"), "idea texts are untouched");
        let fr = sample().csv_in(Lang::Fr);
        assert!(fr.starts_with("feuille,tour,case,id_idee,texte,"), "{fr}");
        assert!(fr.contains("'=HYPERLINK"));
        let es = sample().csv_in(Lang::Es);
        assert!(es.starts_with("hoja,ronda,"), "{es}");
        for lang in [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Ar] {
            assert_eq!(Lang::parse(lang.tag()), Some(lang));
            assert!(crate::room::LANGUAGES.contains(&lang.tag()));
        }
        assert_eq!(Lang::parse("xx"), None);
    }

    #[test]
    fn plurals_of_votes() {
        assert_eq!(Lang::En.votes(1), "1 vote");
        assert_eq!(Lang::De.votes(2), "2 Stimmen");
        assert_eq!(Lang::Ar.votes(2), "صوتان");
        assert_eq!(Lang::Ar.votes(11), "11 صوتًا");
        assert_eq!(Lang::Ar.votes(100), "100 صوت");
    }

    #[test]
    fn json_keeps_its_keys_in_every_language() {
        let en: serde_json::Value = serde_json::from_str(&sample().json_in(Lang::En)).unwrap();
        let ar: serde_json::Value = serde_json::from_str(&sample().json_in(Lang::Ar)).unwrap();
        assert_eq!(ar["language"], "ar");
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&en), keys(&ar));
        assert_eq!(ar["sheets"], en["sheets"]);
    }

    #[test]
    fn json_round_trips_the_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        assert_eq!(v["sheets"][0]["rows"][1]["ideas"][0]["builds_on"], "i2");
        assert_eq!(v["results"][0]["votes"], 4);
        assert_eq!(v["merged"][0]["into"], "i2");
    }
}
