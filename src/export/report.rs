//! The printable report (`export.html`): the finished session as one self-contained HTML
//! document for the browser to show and print on A4 — topic, goal and outcomes, the method,
//! date and counts, a chart of the votes, the clusters, merged duplicates, build-on chains and
//! every sheet as its grid (text, or a sketch as inline SVG, layer by layer).
//!
//! Pure formatting of the views the engine built, like the other exports: no I/O, the clock
//! and the room's counts come in as [`Facts`]. Every text from people (topic, goal, outcomes,
//! ideas, captions, cluster names) and every id is HTML-escaped; nothing is fetched (no
//! fonts, images, scripts or links out), so the document reads the same saved to a file.
//!
//! The one stylesheet is the constant [`STYLE`]; [`style_source`] is its CSP hash source,
//! which the report's own [`csp`] and the site's policy (`crate::http`) allow, so the report
//! keeps its style when the facilitator's page opens it from a blob URL (a blob document
//! inherits the policy of the page that made it). Headings are in the room's language
//! ([`Lang`]), the Arabic report right to left; idea texts are never touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Display, Write as _};
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::{Export, Labels, Lang};
use crate::protocol::{IdeaView, SheetView};
use crate::room::Method;

/// The colours of a sketch's layers, indexed by `(round − 1) mod 12` — the palette of the web
/// client's `web/lib/sketch.js`, so the printed sheet looks like the one on the board.
pub const PALETTE: [&str; 12] = [
    "#1f4e9c", "#c0392b", "#1e8449", "#8e44ad", "#d35400", "#117a65", "#7d6608", "#2c3e50",
    "#b03a2e", "#5b2c6f", "#0e6251", "#6e2c00",
];

/// The canvas of a sketch, in its own units (docs/protocol.md, "C-Sketch").
const CANVAS: (u16, u16) = (1000, 750);

/// The colour of a layer drawn in `round` (1-based).
pub fn colour(round: u32) -> &'static str {
    PALETTE[(round.max(1) as usize - 1) % PALETTE.len()]
}

/// What the report says beside the export: facts about the room that the export does not
/// carry. The handler fills it from the room's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// People who joined the session, if known.
    pub participants: Option<u32>,
    /// When the session finished, in milliseconds since the Unix epoch.
    pub finished_at: Option<u64>,
}

/// The report's only stylesheet: screen and print (A4, 15 mm margins), black-and-white safe.
pub const STYLE: &str = "\
@page{size:A4;margin:15mm}\
:root{color-scheme:light;color:#111;background:#fff;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"Noto Sans Arabic\",\"DejaVu Sans\",Arial,sans-serif;font-size:10.5pt;line-height:1.45}\
*{box-sizing:border-box}\
body{margin:0}\
main{max-width:190mm;margin:0 auto;padding:12mm 10mm}\
a{color:inherit}\
h1{font-size:20pt;line-height:1.2;margin:1mm 0 4mm}\
h2{font-size:14pt;margin:9mm 0 3mm;padding-bottom:1mm;border-bottom:1pt solid #111;break-after:avoid}\
h3{font-size:11.5pt;margin:5mm 0 2mm;break-after:avoid}\
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:8.5pt;color:#444}\
[dir=rtl] .kicker{letter-spacing:0}\
.goal{margin:0 0 2mm}\
.outcomes-h{font-size:10.5pt;margin:3mm 0 1mm;border:0;padding:0}\
.outcomes{margin:0 0 3mm;padding-inline-start:6mm}\
.facts{display:flex;flex-wrap:wrap;gap:2mm 7mm;margin:4mm 0 0;padding:3mm 4mm;border:.75pt solid #555;border-radius:2mm}\
.facts dt{font-size:8.5pt;color:#444}\
.facts dd{margin:0;font-weight:600}\
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:0}\
.note{color:#444;font-size:8.5pt;margin:.5mm 0 0}\
.muted{color:#444}\
table.grid{width:100%;border-collapse:collapse;table-layout:fixed}\
.grid th,.grid td{border:.75pt solid #666;padding:1.5mm 2mm;vertical-align:top;text-align:start}\
.grid thead th{background:#eee;font-size:8.5pt}\
.grid thead{display:table-header-group}\
.grid .r{width:16mm;font-weight:600;white-space:nowrap}\
.grid tr{break-inside:avoid}\
.sheet{break-inside:avoid;margin-bottom:7mm}\
.drawing{margin:0 0 3mm}\
.drawing svg{display:block;width:100%;max-width:140mm;height:auto;aspect-ratio:4/3;border:.75pt solid #666;background:#fff}\
.sketch-sheet{display:grid;grid-template-columns:minmax(0,1.2fr) minmax(0,1fr);gap:4mm;align-items:start}\
.sketch-sheet .drawing{margin:0}\
.drawing figcaption{font-size:8.5pt;color:#444;margin-top:1mm}\
svg.thumb{display:block;width:100%;max-width:50mm;height:auto;aspect-ratio:4/3;border:.5pt solid #999;background:#fff;margin-bottom:1mm}\
svg.thumb g{stroke-width:8}\
svg.thumb circle{r:4}\
.sketched{display:flex;gap:3mm;align-items:flex-start}\
.sketched svg.thumb{flex:0 0 28mm;margin:0}\
svg.swatch{display:inline-block;width:3mm;height:3mm;vertical-align:middle;margin-inline-start:1mm}\
.key{display:inline-flex;flex-wrap:wrap;gap:1mm 3mm}\
.chart{list-style:none;margin:0;padding:0}\
.chart li{display:grid;grid-template-columns:9mm minmax(0,1fr) 45mm 21mm;gap:3mm;align-items:center;padding:1.2mm 0;border-bottom:.5pt solid #bbb;break-inside:avoid}\
.chart .what{display:flex;flex-wrap:wrap;gap:1mm 2mm;align-items:center}\
.chart svg.thumb{width:24mm;margin:0}\
.cluster svg.thumb{max-width:40mm}\
.rank{font-weight:700;text-align:end}\
svg.bar{display:block;width:100%;height:4mm}\
[dir=rtl] svg.bar{transform:scaleX(-1)}\
.n{font-weight:600;white-space:nowrap}\
.clusters{display:grid;grid-template-columns:repeat(auto-fill,minmax(80mm,1fr));gap:4mm}\
.cluster{border:.75pt solid #666;border-radius:2mm;padding:2mm 3mm;break-inside:avoid}\
.cluster h3{margin-top:0}\
.cluster ul,.merged{margin:0;padding-inline-start:5mm}\
.cluster li,.merged li{margin-bottom:1.5mm;break-inside:avoid}\
.chain{list-style:none;margin:0 0 3mm;padding:0;break-inside:avoid}\
.chain li{margin-bottom:1mm}\
.chain li+li{padding-inline-start:5mm}\
a.note{white-space:nowrap}\
footer{margin-top:10mm;padding-top:2mm;border-top:.5pt solid #999;color:#444;font-size:8.5pt}\
@media print{main{max-width:none;padding:0}a{text-decoration:none}}\
";

/// `'sha256-…'`: the CSP source that allows [`STYLE`] as an inline `<style>` and nothing else.
pub fn style_source() -> &'static str {
    static SOURCE: LazyLock<String> = LazyLock::new(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        format!("'sha256-{}'", data_encoding::BASE64.encode(&digest))
    });
    &SOURCE
}

/// The report's Content-Security-Policy: nothing may load, nothing may run; only its own
/// stylesheet applies.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src {}; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'",
        style_source()
    )
}

/// The report's own words in one language (the rest come from the exports' [`Labels`]).
struct Words {
    report: &'static str,
    code: &'static str,
    method: &'static str,
    finished: &'static str,
    ideas: &'static str,
    participants: &'static str,
    votes_cast: &'static str,
    no_votes: &'static str,
    chart: &'static str,
    row: &'static str,
    layer: &'static str,
    drawing: &'static str,
    sketch: &'static str,
    merged_into: &'static str,
    anonymous: &'static str,
    made_with: &'static str,
    /// 6-3-5, C-Sketch, brainwriting pool.
    methods: [&'static str; 3],
}

const EN: Words = Words {
    report: "Session report",
    code: "Session code",
    method: "Method",
    finished: "Finished",
    ideas: "Ideas",
    participants: "Participants",
    votes_cast: "Votes cast",
    no_votes: "No votes were cast.",
    chart: "Votes per idea, highest first",
    row: "Row",
    layer: "Layer",
    drawing: "The sheet's drawing, each layer in its round's colour",
    sketch: "Sketch",
    merged_into: "merged into",
    anonymous: "This report names nobody: the session never records who wrote what.",
    made_with: "Made with brainwrite",
    methods: ["Brainwriting 6-3-5", "C-Sketch", "Brainwriting pool"],
};

const DE: Words = Words {
    report: "Sitzungsbericht",
    code: "Sitzungscode",
    method: "Methode",
    finished: "Beendet",
    ideas: "Ideen",
    participants: "Teilnehmende",
    votes_cast: "Abgegebene Stimmen",
    no_votes: "Es wurden keine Stimmen abgegeben.",
    chart: "Stimmen je Idee, die meisten zuerst",
    row: "Zeile",
    layer: "Ebene",
    drawing: "Die Zeichnung des Blatts, jede Ebene in der Farbe ihrer Runde",
    sketch: "Skizze",
    merged_into: "zusammengeführt mit",
    anonymous: "Dieser Bericht nennt keine Namen: Die Sitzung speichert nie, wer was geschrieben hat.",
    made_with: "Erstellt mit brainwrite",
    methods: ["Brainwriting 6-3-5", "C-Sketch", "Brainwriting-Pool"],
};

const FR: Words = Words {
    report: "Rapport de séance",
    code: "Code de la séance",
    method: "Méthode",
    finished: "Terminée",
    ideas: "Idées",
    participants: "Participants",
    votes_cast: "Votes exprimés",
    no_votes: "Aucun vote n'a été exprimé.",
    chart: "Votes par idée, de la plus votée à la moins votée",
    row: "Ligne",
    layer: "Calque",
    drawing: "Le dessin de la feuille, chaque calque dans la couleur de son tour",
    sketch: "Croquis",
    merged_into: "fusionnée avec",
    anonymous: "Ce rapport ne nomme personne : la séance n'enregistre jamais qui a écrit quoi.",
    made_with: "Réalisé avec brainwrite",
    methods: ["Brainwriting 6-3-5", "C-Sketch", "Pool de brainwriting"],
};

const ES: Words = Words {
    report: "Informe de la sesión",
    code: "Código de la sesión",
    method: "Método",
    finished: "Terminada",
    ideas: "Ideas",
    participants: "Participantes",
    votes_cast: "Votos emitidos",
    no_votes: "No se emitió ningún voto.",
    chart: "Votos por idea, de más a menos",
    row: "Fila",
    layer: "Capa",
    drawing: "El dibujo de la hoja, cada capa en el color de su ronda",
    sketch: "Boceto",
    merged_into: "fusionada con",
    anonymous: "Este informe no nombra a nadie: la sesión nunca guarda quién escribió qué.",
    made_with: "Hecho con brainwrite",
    methods: ["Brainwriting 6-3-5", "C-Sketch", "Brainwriting en pool"],
};

const AR: Words = Words {
    report: "تقرير الجلسة",
    code: "رمز الجلسة",
    method: "الطريقة",
    finished: "انتهت",
    ideas: "الأفكار",
    participants: "المشاركون",
    votes_cast: "الأصوات المدلى بها",
    no_votes: "لم يُدلَ بأي صوت.",
    chart: "الأصوات لكل فكرة، من الأعلى إلى الأدنى",
    row: "الصف",
    layer: "الطبقة",
    drawing: "رسم الورقة، كل طبقة بلون جولتها",
    sketch: "رسم",
    merged_into: "مدمجة في",
    anonymous: "لا يذكر هذا التقرير أي اسم: الجلسة لا تسجّل أبدًا من كتب ماذا.",
    made_with: "أُعدّ باستخدام brainwrite",
    // 6-3-5 between isolates (LRI … PDI), so it is not read as 5-3-6 in a right-to-left line.
    methods: [
        "الكتابة الذهنية \u{2066}6-3-5\u{2069}",
        "C-Sketch",
        "مجمّع الكتابة الذهنية",
    ],
};

impl Lang {
    fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Es => &ES,
            Lang::Ar => &AR,
        }
    }

    /// The name of a method in this language (the Markdown export says it too).
    pub(super) fn method(self, m: Method) -> &'static str {
        let w = self.words();
        match m {
            Method::SixThreeFive => w.methods[0],
            Method::CSketch => w.methods[1],
            Method::Pool => w.methods[2],
        }
    }

    fn rtl(self) -> bool {
        self == Lang::Ar
    }
}

/// Text made safe for HTML content and attribute values (`&<>"'`).
struct Esc<'a>(&'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// The first `n` characters of `s`, with an ellipsis when it was longer.
fn snippet(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().nth(n).is_some() {
        out.push('…');
    }
    out
}

/// A sketch's strokes, if the idea has one (C-Sketch).
fn sketch_of(idea: &IdeaView) -> Option<&[Vec<u16>]> {
    idea.sketch.as_deref()
}

/// One layer of a drawing: the round it was drawn in, its strokes, and whether it is only
/// there as the background of a later one (drawn faded).
struct Layer<'a> {
    round: u32,
    strokes: &'a [Vec<u16>],
    faded: bool,
}

/// An inline SVG of `layers` on the 1000 × 750 canvas: one `<g>` per layer in the order
/// given, each in its round's colour; a stroke of one point is a dot.
fn svg(out: &mut String, class: &str, label: &str, layers: &[Layer<'_>]) {
    let _ = write!(
        out,
        "<svg class=\"{class}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        CANVAS.0,
        CANVAS.1,
        Esc(label)
    );
    for layer in layers {
        let (round, c) = (layer.round, colour(layer.round));
        let _ = write!(
            out,
            "<g data-round=\"{round}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"4\" \
             stroke-linecap=\"round\" stroke-linejoin=\"round\"{}>",
            if layer.faded { " opacity=\"0.3\"" } else { "" }
        );
        for stroke in layer.strokes {
            let points: Vec<&[u16]> = stroke.chunks_exact(2).collect();
            match points.as_slice() {
                [] => {}
                [p] => {
                    let _ = write!(
                        out,
                        "<circle cx=\"{}\" cy=\"{}\" r=\"2\" fill=\"{c}\" stroke=\"none\"/>",
                        p[0], p[1]
                    );
                }
                many => {
                    out.push_str("<polyline points=\"");
                    for (k, p) in many.iter().enumerate() {
                        if k > 0 {
                            out.push(' ');
                        }
                        let _ = write!(out, "{},{}", p[0], p[1]);
                    }
                    out.push_str("\"/>");
                }
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
}

/// The sketched layers of a sheet written before `before` (a round), in round order.
fn layers(s: &SheetView, before: u32) -> Vec<Layer<'_>> {
    s.rows
        .iter()
        .filter(|r| r.round < before)
        .flat_map(|r| {
            r.ideas.iter().filter_map(move |i| {
                sketch_of(i).map(|strokes| Layer {
                    round: r.round,
                    strokes,
                    faded: false,
                })
            })
        })
        .collect()
}

/// A small square of a round's colour, beside its number.
fn swatch(out: &mut String, round: u32) {
    let _ = write!(
        out,
        "<svg class=\"swatch\" viewBox=\"0 0 10 10\" aria-hidden=\"true\">\
         <rect width=\"10\" height=\"10\" fill=\"{}\"/></svg>",
        colour(round)
    );
}

/// `2024-05-14 16:32 UTC` for milliseconds since the Unix epoch.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// Where an idea stands: its sheet (1-based) and row.
struct Place<'a> {
    idea: &'a IdeaView,
    sheet: usize,
    round: u32,
}

/// One rendering of one export.
struct Report<'a> {
    x: &'a Export,
    lang: Lang,
    l: &'static Labels,
    w: &'static Words,
    facts: &'a Facts,
    ideas: BTreeMap<&'a str, Place<'a>>,
    votes: BTreeMap<&'a str, (u32, u32)>,
    merged: BTreeMap<&'a str, &'a str>,
    pool: bool,
}

impl Export {
    /// The printable report (English).
    pub fn html(&self, facts: &Facts) -> String {
        self.html_in(Lang::En, facts)
    }

    /// The printable report with its headings in `lang`.
    pub fn html_in(&self, lang: Lang, facts: &Facts) -> String {
        let mut ideas = BTreeMap::new();
        for (n, s) in self.sheets.iter().enumerate() {
            for row in &s.rows {
                for idea in &row.ideas {
                    ideas.insert(
                        idea.id.as_str(),
                        Place {
                            idea,
                            sheet: n + 1,
                            round: row.round,
                        },
                    );
                }
            }
        }
        let r = Report {
            x: self,
            lang,
            l: lang.labels(),
            w: lang.words(),
            facts,
            ideas,
            votes: self.votes(),
            merged: self
                .merged
                .iter()
                .map(|m| (m.idea.as_str(), m.into.as_str()))
                .collect(),
            pool: self.method == Method::Pool,
        };
        r.render()
    }
}

impl Report<'_> {
    fn render(&self) -> String {
        let mut o = String::with_capacity(16 * 1024);
        let _ = write!(
            o,
            "<!doctype html>\n<html lang=\"{}\" dir=\"{}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"color-scheme\" content=\"light\">\
             <title>{} · brainwrite</title><style>{STYLE}</style></head><body><main>",
            self.lang.tag(),
            if self.lang.rtl() { "rtl" } else { "ltr" },
            Esc(&self.x.topic),
        );
        self.header(&mut o);
        self.chart(&mut o);
        self.clusters(&mut o);
        self.merged(&mut o);
        self.chains(&mut o);
        self.sheets(&mut o);
        let _ = writeln!(
            o,
            "<footer><p>{}</p><p>{}</p></footer></main></body></html>",
            Esc(self.w.anonymous),
            Esc(self.w.made_with)
        );
        o
    }

    fn header(&self, o: &mut String) {
        let (l, w) = (self.l, self.w);
        let _ = write!(
            o,
            "<header><p class=\"kicker\">{}</p><h1 dir=\"auto\">{}</h1>",
            Esc(w.report),
            Esc(&self.x.topic)
        );
        if let Some(g) = &self.x.goal {
            let _ = write!(
                o,
                "<p class=\"goal\"><strong>{}:</strong> <span class=\"text\" dir=\"auto\">{}</span></p>",
                Esc(l.goal),
                Esc(g)
            );
        }
        if !self.x.outcomes.is_empty() {
            let _ = write!(
                o,
                "<h2 class=\"outcomes-h\">{}</h2><ul class=\"outcomes\">",
                Esc(l.outcomes)
            );
            for out in &self.x.outcomes {
                // The text finds its own direction; the bullet keeps the page's.
                let _ = write!(
                    o,
                    "<li><span class=\"text\" dir=\"auto\">{}</span></li>",
                    Esc(out)
                );
            }
            o.push_str("</ul>");
        }
        let method = self.lang.method(self.x.method);
        // The code and the time read left to right in every language.
        let ltr = |s: &str| format!("<bdi dir=\"ltr\">{}</bdi>", Esc(s));
        let mut facts: Vec<(&str, String)> = vec![
            (w.method, Esc(method).to_string()),
            (w.code, ltr(&self.x.code)),
        ];
        if let Some(ms) = self.facts.finished_at {
            facts.push((w.finished, ltr(&utc(ms))));
        }
        facts.push((l.sheets, self.x.sheets.len().to_string()));
        facts.push((w.ideas, self.ideas.len().to_string()));
        if let Some(p) = self.facts.participants {
            facts.push((w.participants, p.to_string()));
        }
        if let Some(results) = &self.x.results {
            let cast: u32 = results.iter().map(|r| r.votes).sum();
            facts.push((w.votes_cast, cast.to_string()));
        }
        o.push_str("<dl class=\"facts\">");
        for (k, v) in facts {
            let _ = write!(o, "<div><dt>{}</dt><dd>{v}</dd></div>", Esc(k));
        }
        o.push_str("</dl></header>");
    }

    /// `Sheet 2 · Round 1`, linking to the idea on its sheet.
    fn where_is(&self, o: &mut String, id: &str) {
        if let Some(p) = self.ideas.get(id) {
            let _ = write!(
                o,
                "<a class=\"note\" href=\"#idea-{}\">{} {} · {} {}</a>",
                Esc(id),
                Esc(self.l.sheet),
                p.sheet,
                Esc(self.row_word()),
                p.round
            );
        }
    }

    fn row_word(&self) -> &'static str {
        if self.pool { self.w.row } else { self.l.round }
    }

    /// An idea where it is named outside its sheet: its sketch (small), its text, where it is.
    fn mention(&self, o: &mut String, id: &str, with_sketch: bool) {
        let place = self.ideas.get(id);
        if with_sketch && let Some(p) = place {
            self.thumb(o, p.sheet, p.round, p.idea);
        }
        match place {
            Some(p) if !p.idea.text.is_empty() => {
                let _ = write!(
                    o,
                    "<span class=\"text\" dir=\"auto\">{}</span> ",
                    Esc(&p.idea.text)
                );
            }
            Some(p) if sketch_of(p.idea).is_some() => {
                let _ = write!(o, "<span class=\"muted\">{}</span> ", Esc(self.w.sketch));
            }
            _ => {}
        }
        self.where_is(o, id);
    }

    fn chart(&self, o: &mut String) {
        let Some(results) = &self.x.results else {
            return;
        };
        let _ = write!(
            o,
            "<section aria-labelledby=\"h-votes\"><h2 id=\"h-votes\">{}</h2>",
            Esc(self.l.ranked)
        );
        let voted: Vec<_> = results.iter().filter(|r| r.votes > 0).collect();
        let max = voted.iter().map(|r| r.votes).max().unwrap_or(0);
        if voted.is_empty() {
            let _ = write!(o, "<p>{}</p></section>", Esc(self.w.no_votes));
            return;
        }
        let _ = write!(
            o,
            "<ol class=\"chart\" aria-label=\"{}\">",
            Esc(self.w.chart)
        );
        for r in voted {
            let width = f64::from(r.votes) * 100.0 / f64::from(max.max(1));
            let _ = write!(
                o,
                "<li><span class=\"rank\">{}</span><span class=\"what\">",
                r.rank
            );
            if self.ideas.contains_key(r.id.as_str()) {
                self.mention(o, &r.id, true);
            } else {
                let _ = write!(
                    o,
                    "<span class=\"text\" dir=\"auto\">{}</span>",
                    Esc(&r.text)
                );
            }
            let _ = write!(
                o,
                "</span><svg class=\"bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" \
                 aria-hidden=\"true\"><rect width=\"100\" height=\"10\" fill=\"#e4e4e4\"/>\
                 <rect width=\"{width:.1}\" height=\"10\" fill=\"#222\"/></svg>\
                 <span class=\"n\">{}</span></li>",
                Esc(&self.lang.votes(r.votes))
            );
        }
        o.push_str("</ol></section>");
    }

    fn vote_note(&self, o: &mut String, id: &str) {
        if let Some((v, _)) = self.votes.get(id)
            && *v > 0
        {
            let _ = write!(o, "<p class=\"note\">{}</p>", Esc(&self.lang.votes(*v)));
        }
    }

    fn clusters(&self, o: &mut String) {
        if self.x.clusters.is_empty() {
            return;
        }
        let _ = write!(
            o,
            "<section aria-labelledby=\"h-clusters\"><h2 id=\"h-clusters\">{}</h2><div class=\"clusters\">",
            Esc(self.l.clusters)
        );
        for c in &self.x.clusters {
            let _ = write!(
                o,
                "<section class=\"cluster\"><h3 dir=\"auto\">{}</h3><ul>",
                Esc(&c.name)
            );
            for id in &c.ideas {
                o.push_str("<li>");
                self.mention(o, id, true);
                self.vote_note(o, id);
                o.push_str("</li>");
            }
            o.push_str("</ul></section>");
        }
        o.push_str("</div></section>");
    }

    fn merged(&self, o: &mut String) {
        if self.x.merged.is_empty() {
            return;
        }
        let _ = write!(
            o,
            "<section aria-labelledby=\"h-merged\"><h2 id=\"h-merged\">{}</h2><ul class=\"merged\">",
            Esc(self.l.merged)
        );
        for m in &self.x.merged {
            o.push_str("<li>");
            self.mention(o, &m.idea, false);
            let _ = write!(o, " <strong>{}</strong> ", Esc(self.w.merged_into));
            self.mention(o, &m.into, false);
            o.push_str("</li>");
        }
        o.push_str("</ul></section>");
    }

    /// Every chain of build-on links, from the first idea to the last one nobody built on.
    fn chains(&self, o: &mut String) {
        let built_on: BTreeSet<&str> = self
            .ideas
            .values()
            .filter_map(|p| p.idea.builds_on.as_deref())
            .collect();
        let mut chains = Vec::new();
        for s in &self.x.sheets {
            for row in &s.rows {
                for idea in &row.ideas {
                    if idea.builds_on.is_none() || built_on.contains(idea.id.as_str()) {
                        continue;
                    }
                    let mut chain = vec![idea.id.as_str()];
                    let mut next = idea.builds_on.as_deref();
                    while let Some(id) = next {
                        if chain.contains(&id) || chain.len() > 64 {
                            break;
                        }
                        chain.push(id);
                        next = self.ideas.get(id).and_then(|p| p.idea.builds_on.as_deref());
                    }
                    chain.reverse();
                    chains.push(chain);
                }
            }
        }
        if chains.is_empty() {
            return;
        }
        let _ = write!(
            o,
            "<section aria-labelledby=\"h-chains\"><h2 id=\"h-chains\">{}</h2>",
            Esc(self.l.chains)
        );
        let arrow = if self.lang.rtl() { "↲" } else { "↳" };
        for chain in chains {
            o.push_str("<ol class=\"chain\">");
            for (k, id) in chain.iter().enumerate() {
                o.push_str("<li>");
                if k > 0 {
                    let _ = write!(
                        o,
                        "<span class=\"muted\">{arrow} {}</span> ",
                        Esc(self.l.builds_on)
                    );
                }
                self.mention(o, id, false);
                o.push_str("</li>");
            }
            o.push_str("</ol>");
        }
        o.push_str("</section>");
    }

    fn sheets(&self, o: &mut String) {
        let _ = write!(
            o,
            "<section class=\"sheets\" aria-labelledby=\"h-sheets\">\
             <h2 id=\"h-sheets\">{}</h2>",
            Esc(self.l.sheets)
        );
        for (n, s) in self.x.sheets.iter().enumerate() {
            self.sheet(o, n + 1, s);
        }
        o.push_str("</section>");
    }

    fn sheet(&self, o: &mut String, n: usize, s: &SheetView) {
        let (l, w) = (self.l, self.w);
        let _ = write!(
            o,
            "<section class=\"sheet\" id=\"sheet-{n}\" aria-labelledby=\"sheet-{n}-h\">\
             <h3 id=\"sheet-{n}-h\">{} {n}</h3>",
            Esc(l.sheet)
        );
        if s.rows.is_empty() {
            let _ = write!(o, "<p class=\"muted\">{}</p></section>", Esc(l.no_ideas));
            return;
        }
        let layers = layers(s, u32::MAX);
        let drawn = !layers.is_empty();
        if drawn {
            o.push_str("<div class=\"sketch-sheet\"><figure class=\"drawing\">");
            svg(o, "sheet-drawing", &format!("{} {n}", l.sheet), &layers);
            let _ = write!(o, "<figcaption>{}: <span class=\"key\">", Esc(w.drawing));
            for layer in &layers {
                let _ = write!(o, "<span>{} {}", Esc(self.row_word()), layer.round);
                swatch(o, layer.round);
                o.push_str("</span>");
            }
            o.push_str("</span></figcaption></figure>");
        }
        let per = s
            .rows
            .iter()
            .map(|r| r.ideas.len())
            .max()
            .unwrap_or(0)
            .max(self.x.ideas_per_round.max(1) as usize);
        let _ = write!(
            o,
            "<table class=\"grid\"><thead><tr><th class=\"r\" scope=\"col\">{}</th>",
            Esc(self.row_word())
        );
        for k in 1..=per {
            match (per, drawn) {
                (1, true) => {
                    let _ = write!(o, "<th scope=\"col\">{}</th>", Esc(w.layer));
                }
                (1, false) => {
                    let _ = write!(o, "<th scope=\"col\">{}</th>", Esc(l.idea));
                }
                _ => {
                    let _ = write!(o, "<th scope=\"col\">{} {k}</th>", Esc(l.idea));
                }
            }
        }
        o.push_str("</tr></thead><tbody>");
        for row in &s.rows {
            let _ = write!(o, "<tr><th class=\"r\" scope=\"row\">{}", row.round);
            if drawn {
                swatch(o, row.round);
            }
            o.push_str("</th>");
            for k in 0..per {
                o.push_str("<td>");
                if let Some(i) = row.ideas.get(k) {
                    self.cell(o, n, row.round, i);
                }
                o.push_str("</td>");
            }
            o.push_str("</tr>");
        }
        o.push_str("</tbody></table>");
        if drawn {
            o.push_str("</div>");
        }
        o.push_str("</section>");
    }

    /// An idea's sketch, small: its layer over the sheet's earlier layers, faded.
    fn thumb(&self, o: &mut String, sheet: usize, round: u32, i: &IdeaView) {
        let Some(strokes) = sketch_of(i) else {
            return;
        };
        let mut under = self
            .x
            .sheets
            .get(sheet.wrapping_sub(1))
            .map(|s| layers(s, round))
            .unwrap_or_default();
        for l in &mut under {
            l.faded = true;
        }
        under.push(Layer {
            round,
            strokes,
            faded: false,
        });
        let label = format!(
            "{} · {} {sheet} · {} {round}",
            self.w.sketch,
            self.l.sheet,
            self.row_word()
        );
        svg(o, "thumb", &label, &under);
    }

    fn cell(&self, o: &mut String, sheet: usize, round: u32, i: &IdeaView) {
        let sketched = sketch_of(i).is_some();
        let _ = write!(
            o,
            "<div class=\"idea{}\" id=\"idea-{}\">",
            if sketched { " sketched" } else { "" },
            Esc(&i.id)
        );
        if sketched {
            self.thumb(o, sheet, round, i);
            o.push_str("<div>");
        }
        if !i.text.is_empty() {
            let _ = write!(o, "<p class=\"text\" dir=\"auto\">{}</p>", Esc(&i.text));
        }
        if let Some(b) = i.builds_on.as_deref() {
            let arrow = if self.lang.rtl() { "↲" } else { "↳" };
            let target = self.short(b);
            let _ = write!(
                o,
                "<p class=\"note\">{arrow} {} <a href=\"#idea-{}\" dir=\"auto\">{}</a></p>",
                Esc(self.l.builds_on),
                Esc(b),
                Esc(&target)
            );
        }
        if let Some(into) = self.merged.get(i.id.as_str()) {
            let _ = write!(
                o,
                "<p class=\"note\">= {} <a href=\"#idea-{}\" dir=\"auto\">{}</a></p>",
                Esc(self.w.merged_into),
                Esc(into),
                Esc(&self.short(into))
            );
        }
        self.vote_note(o, &i.id);
        if sketched {
            o.push_str("</div>");
        }
        o.push_str("</div>");
    }

    /// An idea in a few words: the start of its text, or "Sketch".
    fn short(&self, id: &str) -> String {
        match self.ideas.get(id) {
            Some(p) if p.idea.text.is_empty() => self.w.sketch.to_owned(),
            Some(p) => snippet(&p.idea.text, 60),
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClusterView, MergeView, ResultView, RowView};

    const EVIL: &str = "<script>alert(\"x&y\")</script> it's";

    fn idea(id: &str, text: &str, b: Option<&str>) -> IdeaView {
        IdeaView {
            id: id.into(),
            text: text.into(),
            builds_on: b.map(Into::into),
            sketch: None,
        }
    }

    fn sample() -> Export {
        Export {
            code: "ABCD2345".into(),
            method: Method::SixThreeFive,
            topic: format!("Topic {EVIL}"),
            goal: Some(format!("Goal {EVIL}")),
            outcomes: vec![format!("Outcome {EVIL}")],
            ideas_per_round: 2,
            sheets: vec![
                SheetView {
                    id: "s1".into(),
                    rows: vec![
                        RowView {
                            round: 1,
                            ideas: vec![idea("i1", EVIL, None), idea("i2", "plain one", None)],
                        },
                        RowView {
                            round: 2,
                            ideas: vec![idea("i3", "better, \"quoted\"", Some("i2"))],
                        },
                        RowView {
                            round: 3,
                            ideas: vec![idea("i4", "third in the chain", Some("i3"))],
                        },
                    ],
                },
                SheetView {
                    id: "s2".into(),
                    rows: vec![],
                },
            ],
            clusters: vec![ClusterView {
                id: "c1".into(),
                name: format!("Cluster {EVIL}"),
                ideas: vec!["i2".into(), "i1".into()],
            }],
            merged: vec![MergeView {
                idea: "i3".into(),
                into: "i2".into(),
            }],
            results: Some(vec![
                ResultView {
                    id: "i2".into(),
                    text: "plain one".into(),
                    votes: 4,
                    rank: 1,
                    sketch: None,
                },
                ResultView {
                    id: "i1".into(),
                    text: EVIL.into(),
                    votes: 1,
                    rank: 2,
                    sketch: None,
                },
                ResultView {
                    id: "i4".into(),
                    text: "third in the chain".into(),
                    votes: 0,
                    rank: 3,
                    sketch: None,
                },
            ]),
            language: None,
        }
    }

    fn facts() -> Facts {
        Facts {
            participants: Some(5),
            finished_at: Some(1_700_000_000_000),
        }
    }

    #[test]
    fn every_text_from_people_is_escaped() {
        let html = sample().html(&facts());
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("it's") && !html.contains("\"x&y\""));
        let escaped = "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; it&#39;s";
        for what in ["Topic", "Goal", "Outcome", "Cluster"] {
            assert!(
                html.contains(&format!("{what} {escaped}")),
                "{what} is escaped"
            );
        }
        assert!(html.contains(&format!("<title>Topic {escaped} · brainwrite</title>")));
        assert!(html.contains(&format!("<p class=\"text\" dir=\"auto\">{escaped}</p>")));
        assert!(html.contains("better, &quot;quoted&quot;"));
        assert_eq!(
            Esc("a&b<c>d\"e'f").to_string(),
            "a&amp;b&lt;c&gt;d&quot;e&#39;f"
        );
    }

    #[test]
    fn every_idea_is_on_its_sheet_with_chains_clusters_merges_and_counts() {
        let html = sample().html(&facts());
        for id in ["i1", "i2", "i3", "i4"] {
            assert_eq!(
                html.matches(&format!("id=\"idea-{id}\"")).count(),
                1,
                "{id} has one home"
            );
        }
        for text in [
            "plain one",
            "better, &quot;quoted&quot;",
            "third in the chain",
        ] {
            assert!(html.contains(&format!("<p class=\"text\" dir=\"auto\">{text}</p>")));
        }
        assert!(html.contains("<h3 id=\"sheet-1-h\">Sheet 1</h3>"));
        assert!(html.contains("<h3 id=\"sheet-2-h\">Sheet 2</h3>"));
        assert!(html.contains("No ideas on this sheet."));
        assert!(html.contains("<th scope=\"col\">Idea 2</th>"));
        // One chain, from the first idea to the last: i2 → i3 → i4.
        let chains = &html[html.find("id=\"h-chains\"").unwrap()..];
        let chains = &chains[..chains.find("</section>").unwrap()];
        assert_eq!(
            chains.matches("<ol class=\"chain\">").count(),
            1,
            "{chains}"
        );
        let (a, b, c) = (
            chains.find("plain one").unwrap(),
            chains.find("better").unwrap(),
            chains.find("third").unwrap(),
        );
        assert!(a < b && b < c, "{chains}");
        assert!(chains.contains("↳ builds on"));
        assert!(html.contains("<h2 id=\"h-clusters\">Clusters</h2>"));
        assert!(html.contains("<strong>merged into</strong>"));
        assert!(html.contains("<dt>Participants</dt><dd>5</dd>"));
        assert!(html.contains("<dt>Ideas</dt><dd>4</dd>"));
        assert!(html.contains("<dt>Sheets</dt><dd>2</dd>"));
        assert!(html.contains("<dt>Votes cast</dt><dd>5</dd>"));
        assert!(
            html.contains("<dt>Finished</dt><dd><bdi dir=\"ltr\">2023-11-14 22:13 UTC</bdi></dd>")
        );
        assert!(html.contains("<dd>Brainwriting 6-3-5</dd>"));
        assert!(html.contains("<p class=\"note\">4 votes</p>"));
    }

    #[test]
    fn the_vote_chart_is_ranked_svg_bars_with_the_numbers_as_text() {
        let html = sample().html(&facts());
        let chart = &html[html.find("<ol class=\"chart\"").unwrap()..];
        let chart = &chart[..chart.find("</ol>").unwrap()];
        assert_eq!(
            chart.matches("<li>").count(),
            2,
            "ideas without votes are left out"
        );
        assert_eq!(chart.matches("<svg class=\"bar\"").count(), 2);
        assert!(chart.contains("<rect width=\"100.0\" height=\"10\" fill=\"#222\"/>"));
        assert!(chart.contains("<rect width=\"25.0\" height=\"10\" fill=\"#222\"/>"));
        assert!(chart.find("4 votes").unwrap() < chart.find("1 vote<").unwrap());
        let mut none = sample();
        for r in none.results.iter_mut().flatten() {
            r.votes = 0;
        }
        let html = none.html(&facts());
        assert!(html.contains("No votes were cast.") && !html.contains("class=\"chart\""));
        none.results = None;
        assert!(
            !none.html(&facts()).contains("h-votes"),
            "no vote, no chart"
        );
    }

    #[test]
    fn nothing_is_fetched_from_anywhere() {
        let html = sample().html(&facts());
        for bad in [
            "http", "src=", "url(", "@import", "<link", "<script", "<img", "<iframe", "<object",
        ] {
            assert!(!html.contains(bad), "the report has {bad}");
        }
        for href in html.match_indices("href=\"").map(|(i, _)| &html[i + 6..]) {
            assert!(
                href.starts_with('#'),
                "only links inside the report: {href:.20}"
            );
        }
        assert!(STYLE.contains("@page{size:A4;margin:15mm}"));
        assert!(csp().starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp().contains("unsafe"));
    }

    #[test]
    fn the_style_source_is_the_hash_of_the_style() {
        // sha256("") in base64, to check the encoding of the hash against a known value.
        let empty = data_encoding::BASE64.encode(&Sha256::digest(b""));
        assert_eq!(empty, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        let html = sample().html(&facts());
        let inline = html
            .split("<style>")
            .nth(1)
            .and_then(|s| s.split("</style>").next())
            .unwrap();
        assert_eq!(
            inline, STYLE,
            "the page has exactly the style the hash allows"
        );
        assert_eq!(
            style_source(),
            format!(
                "'sha256-{}'",
                data_encoding::BASE64.encode(&Sha256::digest(inline.as_bytes()))
            )
        );
    }

    #[test]
    fn headings_follow_the_language_and_arabic_is_right_to_left() {
        let x = sample();
        let de = x.html_in(Lang::De, &facts());
        assert!(de.starts_with("<!doctype html>\n<html lang=\"de\" dir=\"ltr\">"));
        for word in [
            "Sitzungsbericht",
            "<h2 id=\"h-votes\">Nach Stimmen geordnet</h2>",
            "<h2 id=\"h-sheets\">Blätter</h2>",
            "Blatt 1",
            "<dt>Teilnehmende</dt>",
            "4 Stimmen",
            "zusammengeführt mit",
            "Idee 2",
        ] {
            assert!(de.contains(word), "German report has {word}");
        }
        assert!(!de.contains("Sheets") && !de.contains("Participants"));
        let ar = x.html_in(Lang::Ar, &facts());
        assert!(ar.starts_with("<!doctype html>\n<html lang=\"ar\" dir=\"rtl\">"));
        assert!(ar.contains("تقرير الجلسة") && ar.contains("4 أصوات") && ar.contains("↲"));
        // An outcome's text takes its own direction, its bullet the page's; 6-3-5 stays 6-3-5.
        assert!(ar.contains("<li><span class=\"text\" dir=\"auto\">Outcome &lt;script&gt;"));
        assert!(ar.contains("\u{2066}6-3-5\u{2069}"));
        let fr = x.html_in(Lang::Fr, &facts());
        assert!(fr.contains("Rapport de séance") && fr.contains("Feuille 1"));
        let es = x.html_in(Lang::Es, &facts());
        assert!(es.contains("Informe de la sesión") && es.contains("Hoja 1"));
        for lang in [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::Ar] {
            let html = x.html_in(lang, &facts());
            assert!(html.contains(lang.words().report), "{lang:?}");
            assert!(html.contains(&format!("<dd>{}</dd>", lang.words().methods[0])));
            let pool = Export {
                method: Method::Pool,
                ..x.clone()
            }
            .html_in(lang, &facts());
            assert!(pool.contains(lang.words().methods[2]), "{lang:?}");
            assert!(pool.contains(&format!(">{}</th>", lang.words().row)));
        }
    }

    #[test]
    fn a_sketch_is_an_svg_with_one_group_per_layer_in_its_rounds_colour() {
        let (a, b, c) = (
            vec![vec![10, 20, 30, 40, 50, 60], vec![500, 375]],
            vec![vec![0, 0, 1000, 750]],
            vec![vec![7, 8], vec![1, 2, 3, 4, 5]],
        );
        let mut o = String::new();
        let layer = |round, strokes: &'static [Vec<u16>], faded| Layer {
            round,
            strokes,
            faded,
        };
        let (a, b, c) = (a.leak(), b.leak(), c.leak());
        svg(
            &mut o,
            "sheet-drawing",
            "Sheet <1>",
            &[layer(1, a, false), layer(2, b, true), layer(13, c, false)],
        );
        assert!(o.starts_with(
            "<svg class=\"sheet-drawing\" viewBox=\"0 0 1000 750\" role=\"img\" aria-label=\"Sheet &lt;1&gt;\">"
        ));
        assert_eq!(o.matches("<g ").count(), 3);
        let groups: Vec<&str> = o.split("<g ").skip(1).collect();
        assert!(groups[0].starts_with("data-round=\"1\" fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"4\" stroke-linecap=\"round\" stroke-linejoin=\"round\">"));
        assert!(groups[0].contains("<polyline points=\"10,20 30,40 50,60\"/>"));
        assert!(groups[0].contains("<circle cx=\"500\" cy=\"375\" r=\"2\" fill=\"#1f4e9c\""));
        assert!(groups[1].contains("stroke=\"#c0392b\"") && groups[1].contains("0,0 1000,750"));
        assert!(groups[1].contains("opacity=\"0.3\""), "a faded layer");
        assert!(!groups[0].contains("opacity") && !groups[2].contains("opacity"));
        assert!(
            groups[2].contains("stroke=\"#1f4e9c\""),
            "round 13 wraps to the first colour"
        );
        assert!(groups[2].contains("<circle cx=\"7\" cy=\"8\""));
        assert!(
            groups[2].contains("points=\"1,2 3,4\""),
            "an odd coordinate is dropped"
        );
        assert!(o.ends_with("</g></svg>"));
        assert_eq!(colour(0), PALETTE[0]);
        assert_eq!(colour(12), "#6e2c00");
    }

    /// A C-Sketch session: three layers on one sheet (one without a caption), one on another.
    fn sketched() -> Export {
        let layer = |id: &str, text: &str, strokes: Vec<Vec<u16>>| IdeaView {
            id: id.into(),
            text: text.into(),
            builds_on: None,
            sketch: Some(strokes),
        };
        let row = |round, idea| RowView {
            round,
            ideas: vec![idea],
        };
        Export {
            code: "SKCH2345".into(),
            method: Method::CSketch,
            topic: "A better bike rack".into(),
            goal: None,
            outcomes: vec![],
            ideas_per_round: 1,
            sheets: vec![
                SheetView {
                    id: "s1".into(),
                    rows: vec![
                        row(
                            1,
                            layer("k1", "a rack <on> the wall", vec![vec![100, 100, 900, 100]]),
                        ),
                        row(2, layer("k2", "", vec![vec![500, 400], vec![1, 2, 3, 4]])),
                        row(
                            3,
                            layer("k3", "with a roof", vec![vec![0, 0, 10, 10, 20, 0]]),
                        ),
                    ],
                },
                SheetView {
                    id: "s2".into(),
                    rows: vec![row(1, layer("k4", "hooks", vec![vec![300, 300, 310, 320]]))],
                },
            ],
            clusters: vec![ClusterView {
                id: "c1".into(),
                name: "Walls".into(),
                ideas: vec!["k2".into()],
            }],
            merged: vec![],
            results: Some(vec![ResultView {
                id: "k3".into(),
                text: "with a roof".into(),
                votes: 3,
                rank: 1,
                sketch: Some(vec![vec![0, 0, 10, 10, 20, 0]]),
            }]),
            language: None,
        }
    }

    #[test]
    fn a_c_sketch_sheet_is_its_drawing_layer_by_layer_with_every_caption() {
        let html = sketched().html(&facts());
        assert!(html.contains("<dd>C-Sketch</dd>"));
        // The sheet's drawing: one <g> per layer, in round order, in the palette's colours.
        let drawings: Vec<&str> = html
            .split("<svg class=\"sheet-drawing\"")
            .skip(1)
            .map(|d| &d[..d.find("</svg>").unwrap()])
            .collect();
        assert_eq!(drawings.len(), 2, "one drawing a sheet");
        assert!(drawings[0].contains("viewBox=\"0 0 1000 750\""));
        assert_eq!(drawings[0].matches("<g ").count(), 3);
        assert_eq!(drawings[1].matches("<g ").count(), 1);
        let rounds: Vec<&str> = drawings[0]
            .match_indices("data-round=\"")
            .map(|(i, _)| &drawings[0][i + 12..i + 13])
            .collect();
        assert_eq!(rounds, ["1", "2", "3"]);
        for (round, c) in [(1, "#1f4e9c"), (2, "#c0392b"), (3, "#1e8449")] {
            assert!(drawings[0].contains(&format!(
                "data-round=\"{round}\" fill=\"none\" stroke=\"{c}\""
            )));
        }
        assert!(
            !drawings[0].contains("opacity"),
            "the whole drawing is at full strength"
        );
        assert!(drawings[0].contains("<polyline points=\"100,100 900,100\"/>"));
        assert!(
            drawings[0].contains("<circle cx=\"500\" cy=\"400\" r=\"2\""),
            "a stroke of one point is a dot"
        );
        // Each layer on its row: the layer over the earlier ones, faded.
        let k3 = &html[html.find("id=\"idea-k3\"").unwrap()..];
        let k3 = &k3[..k3.find("</svg>").unwrap()];
        assert_eq!(k3.matches("<g ").count(), 3);
        assert_eq!(k3.matches("opacity=\"0.3\"").count(), 2, "{k3}");
        assert!(html.contains("<th scope=\"col\">Layer</th>"));
        assert!(html.contains("a rack &lt;on&gt; the wall") && html.contains("with a roof"));
        assert_eq!(
            html.matches("<svg class=\"thumb\"").count(),
            4 + 1 + 1,
            "rows, cluster, chart"
        );
        // A layer without a caption is named as a sketch where it is mentioned.
        let cluster = &html[html.find("class=\"cluster\"").unwrap()..];
        assert!(cluster[..cluster.find("</section>").unwrap()].contains(">Sketch<"));
        assert!(html.contains("<ol class=\"chart\""));
        assert!(html.contains("<span class=\"n\">3 votes</span>"));
        for bad in ["http", "src=", "<script"] {
            assert!(!html.contains(bad), "{bad}");
        }
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_709_251_199_000), "2024-02-29 23:59 UTC");
        assert_eq!(utc(1_735_689_600_000), "2025-01-01 00:00 UTC");
    }

    #[test]
    fn snippets_are_cut_on_characters() {
        assert_eq!(snippet("héllo", 10), "héllo");
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("مرحبا", 3), "مرح…");
    }
}
