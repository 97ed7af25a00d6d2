//! Renderers of a [`CostReport`]: a terminal table, JSON (schema `aistack.cost/1`,
//! documented in `docs/cost.md`) and Markdown ready to post as a pull-request comment; and
//! the comparison of two reports ([`compare`], schema `aistack.cost-compare/1`).
//!
//! Takes: reports from [`super::compute`]. Gives: strings (control characters from the input
//! made visible, as in diagnostics). Money is shown to the cent; unit prices keep every digit
//! the catalog gives.

use super::{money, unit_price, CostReport, Line};
use crate::check::value::trim_float;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn pct(share: f64) -> String {
    format!("{}%", trim_float((share * 1000.0).round() / 10.0))
}

/// `gpu_pool l40s`.
fn label(l: &Line) -> String {
    one_line(&format!("{} {}", l.kind, l.address))
}

/// Text for one row of a table: a line break from the input (a `for` key) shown as `\n`.
fn one_line(s: &str) -> String {
    s.replace('\n', "\\n").replace('\r', "\\r")
}

/// One budget's status: `within (91% of $12,000)` or `OVER by $1,234.56`.
fn status(b: &super::BudgetLine, worst: f64) -> String {
    if b.over {
        format!("over by {}", money(worst - b.limit))
    } else {
        format!("within, {} to spare", money(b.limit - worst))
    }
}

/// The report as an aligned plain-text table with totals, budgets and recommendations.
pub fn table(r: &CostReport) -> String {
    let mut rows: Vec<[String; 4]> =
        vec![["declaration".into(), "what".into(), "expected/month".into(), "worst case/month".into()]];
    for l in &r.lines {
        rows.push([label(l), one_line(&l.what), money(l.expected.monthly), money(l.worst.monthly)]);
    }
    rows.push(["total".into(), String::new(), money(r.expected), money(r.worst)]);
    let width = |i: usize| rows.iter().map(|row| row[i].chars().count()).max().unwrap_or(0);
    let w = [width(0), width(1), width(2), width(3)];
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        if n + 1 == rows.len() {
            out.push_str(&format!("{}\n", "-".repeat(w.iter().sum::<usize>() + 6)));
        }
        out.push_str(&format!(
            "{:<a$}  {:<b$}  {:>c$}  {:>d$}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3]
        ));
    }
    for b in &r.budgets {
        out.push_str(&format!(
            "budget {}: {}/month; expected {} ({}), worst case {} ({}): {}\n",
            one_line(&b.address),
            money(b.limit),
            money(r.expected),
            pct(b.expected_share),
            money(r.worst),
            pct(b.worst_share),
            status(b, r.worst)
        ));
    }
    if !r.recommendations.is_empty() {
        out.push_str("\nrecommendations:\n");
        for rec in &r.recommendations {
            out.push_str(&format!("- {}\n", one_line(&rec.message)));
            for f in &rec.figures {
                out.push_str(&format!("    {}\n", one_line(f)));
            }
        }
    }
    out.push_str(&format!("\n{}\n", assumptions_text(r)));
    for l in &r.lines {
        out.push_str(&format!("{}: expected {}; worst case {}\n", label(l), l.expected.basis, l.worst.basis));
        for n in &l.notes {
            out.push_str(&format!("    {n}\n"));
        }
    }
    out.push_str("\nprices:\n");
    for (item, p) in prices(r) {
        out.push_str(&format!("- {item}: {} per {} ({}, {})\n", unit_price(p.0), p.1, p.2, p.3));
    }
    out
}

fn assumptions_text(r: &CostReport) -> String {
    let a = &r.assumptions;
    format!(
        "assumptions ({}): {} h per month; each cdn serves {} GB per month; {}% of a replicated or backed-up store written per month; spot discount {}% ({})",
        a.from,
        trim_float(a.hours_per_month),
        trim_float(a.cdn_egress_gb),
        trim_float(a.churn * 100.0),
        trim_float(a.spot_discount * 100.0),
        a.spot_source
    )
}

/// Every distinct price the report used: item → (dollars, per, date, source).
fn prices(r: &CostReport) -> BTreeMap<String, (f64, String, String, String)> {
    let mut out = BTreeMap::new();
    for p in r.lines.iter().flat_map(|l| &l.prices).filter(|p| p.per != "share of on-demand") {
        out.insert(p.item.clone(), (p.dollars, p.per.clone(), p.date.clone(), p.source.clone()));
    }
    out
}

/// The report as JSON (schema `aistack.cost/1`).
pub fn json(r: &CostReport) -> Value {
    let lines: Vec<Value> = r
        .lines
        .iter()
        .map(|l| {
            let mut v = json!({
                "kind": l.kind,
                "address": l.address,
                "what": l.what,
                "expected": {"monthly": cents(l.expected.monthly), "basis": l.expected.basis},
                "worst": {"monthly": cents(l.worst.monthly), "basis": l.worst.basis},
                "prices": l.prices,
                "notes": l.notes,
            });
            if let (Some(p), Some(o)) = (&l.pool, v.as_object_mut()) {
                o.insert("pool".into(), json!(p));
            }
            v
        })
        .collect();
    let budgets: Vec<Value> = r
        .budgets
        .iter()
        .map(|b| {
            json!({
                "address": b.address,
                "limit": cents(b.limit),
                "alerts": b.alerts,
                "expected_share": (b.expected_share * 1e4).round() / 1e4,
                "worst_share": (b.worst_share * 1e4).round() / 1e4,
                "over": b.over,
            })
        })
        .collect();
    let recs: Vec<Value> = r
        .recommendations
        .iter()
        .map(|x| {
            json!({
                "kind": x.kind,
                "address": x.address,
                "message": x.message,
                "figures": x.figures,
                "saving_expected": cents(x.saving_expected),
                "saving_worst": cents(x.saving_worst),
            })
        })
        .collect();
    json!({
        "schema": "aistack.cost/1",
        "assumptions": r.assumptions,
        "lines": lines,
        "expected": cents(r.expected),
        "worst": cents(r.worst),
        "budgets": budgets,
        "recommendations": recs,
    })
}

/// A Markdown table cell: no pipes or line breaks from the input.
fn cell(s: &str) -> String {
    one_line(&s.replace('\\', "\\\\").replace('|', "\\|"))
}

/// The report as Markdown for a pull-request comment: the table, totals, budgets,
/// recommendations, and the prices with their dates and sources.
pub fn markdown(r: &CostReport, title: &str) -> String {
    let mut out = format!("### Cost of `{}`\n\n", cell(title));
    out.push_str("| declaration | what | expected / month | worst case / month |\n| --- | --- | ---: | ---: |\n");
    for l in &r.lines {
        out.push_str(&format!(
            "| {} `{}` | {} | {} | {} |\n",
            l.kind,
            cell(&l.address),
            cell(&l.what),
            money(l.expected.monthly),
            money(l.worst.monthly)
        ));
    }
    out.push_str(&format!("| **total** | | **{}** | **{}** |\n", money(r.expected), money(r.worst)));
    if !r.budgets.is_empty() {
        out.push_str(
            "\n| budget | limit / month | expected | worst case | status |\n| --- | ---: | ---: | ---: | --- |\n",
        );
        for b in &r.budgets {
            out.push_str(&format!(
                "| `{}` | {} | {} ({}) | {} ({}) | {} {} |\n",
                cell(&b.address),
                money(b.limit),
                money(r.expected),
                pct(b.expected_share),
                money(r.worst),
                pct(b.worst_share),
                if b.over { "❌" } else { "✅" },
                status(b, r.worst)
            ));
        }
    }
    if !r.recommendations.is_empty() {
        out.push_str("\n**Recommendations**\n\n");
        for rec in &r.recommendations {
            out.push_str(&format!("- {}\n", cell(&rec.message)));
            for f in &rec.figures {
                out.push_str(&format!("  - {}\n", cell(f)));
            }
        }
    }
    out.push_str("\n<details><summary>How this was computed</summary>\n\n");
    out.push_str(&format!("{}\n\n", cell(&assumptions_text(r))));
    out.push_str("| declaration | expected | worst case |\n| --- | --- | --- |\n");
    for l in &r.lines {
        out.push_str(&format!(
            "| {} `{}` | {} | {} |\n",
            l.kind,
            cell(&l.address),
            cell(&l.expected.basis),
            cell(&l.worst.basis)
        ));
    }
    out.push_str("\n| price | per | date | source |\n| --- | --- | --- | --- |\n");
    for (item, p) in prices(r) {
        out.push_str(&format!(
            "| {}: {} | {} | {} | {} |\n",
            cell(&item),
            unit_price(p.0),
            p.1,
            cell(&p.2),
            cell(&p.3)
        ));
    }
    out.push_str("\n</details>\n");
    out
}

/// One declaration's change between a base and a head report.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub kind: String,
    pub address: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub change: &'static str,
    pub base: (f64, f64),
    pub head: (f64, f64),
}

impl Change {
    pub fn delta(&self) -> (f64, f64) {
        (self.head.0 - self.base.0, self.head.1 - self.base.1)
    }
}

/// Per declaration (by kind and address), what changed from `base` to `head`, in the head's
/// order followed by the removed ones.
pub fn compare(base: &CostReport, head: &CostReport) -> Vec<Change> {
    let key = |l: &Line| (l.kind.clone(), l.address.clone());
    let figures = |l: &Line| (l.expected.monthly, l.worst.monthly);
    let old: BTreeMap<(String, String), &Line> = base.lines.iter().map(|l| (key(l), l)).collect();
    let mut out: Vec<Change> = head
        .lines
        .iter()
        .map(|l| {
            let was = old.get(&key(l));
            let change = match was {
                None => "added",
                Some(b)
                    if cents(b.expected.monthly) == cents(l.expected.monthly)
                        && cents(b.worst.monthly) == cents(l.worst.monthly)
                        && b.what == l.what =>
                {
                    "unchanged"
                }
                Some(_) => "changed",
            };
            Change {
                kind: l.kind.clone(),
                address: l.address.clone(),
                change,
                base: was.map_or((0.0, 0.0), |b| figures(b)),
                head: figures(l),
            }
        })
        .collect();
    let new: std::collections::HashSet<(String, String)> = head.lines.iter().map(key).collect();
    for l in base.lines.iter().filter(|l| !new.contains(&key(l))) {
        out.push(Change {
            kind: l.kind.clone(),
            address: l.address.clone(),
            change: "removed",
            base: figures(l),
            head: (0.0, 0.0),
        });
    }
    out
}

fn signed(x: f64) -> String {
    if cents(x) > 0.0 {
        format!("+{}", money(x))
    } else {
        money(x)
    }
}

/// The comparison as JSON (schema `aistack.cost-compare/1`).
pub fn compare_json(base: &CostReport, head: &CostReport) -> Value {
    let lines: Vec<Value> = compare(base, head)
        .iter()
        .map(|c| {
            json!({
                "kind": c.kind,
                "address": c.address,
                "change": c.change,
                "base": {"expected": cents(c.base.0), "worst": cents(c.base.1)},
                "head": {"expected": cents(c.head.0), "worst": cents(c.head.1)},
                "delta": {"expected": cents(c.delta().0), "worst": cents(c.delta().1)},
            })
        })
        .collect();
    json!({
        "schema": "aistack.cost-compare/1",
        "lines": lines,
        "base": {"expected": cents(base.expected), "worst": cents(base.worst)},
        "head": {"expected": cents(head.expected), "worst": cents(head.worst)},
        "delta": {"expected": cents(head.expected - base.expected), "worst": cents(head.worst - base.worst)},
        "budgets": json(head)["budgets"].clone(),
    })
}

/// The comparison as Markdown (or, with `markdown = false`, as a plain table).
pub fn compare_text(base: &CostReport, head: &CostReport, markdown: bool) -> String {
    let changes = compare(base, head);
    let mut rows: Vec<[String; 6]> = changes
        .iter()
        .filter(|c| c.change != "unchanged")
        .map(|c| {
            [
                if markdown {
                    format!("{} `{}`", c.kind, cell(&c.address))
                } else {
                    format!("{} {}", c.kind, c.address)
                },
                c.change.to_string(),
                money(c.head.0),
                signed(c.delta().0),
                money(c.head.1),
                signed(c.delta().1),
            ]
        })
        .collect();
    let bold = |s: String| if markdown { format!("**{s}**") } else { s };
    rows.push([
        bold("total".into()),
        String::new(),
        bold(money(head.expected)),
        bold(signed(head.expected - base.expected)),
        bold(money(head.worst)),
        bold(signed(head.worst - base.worst)),
    ]);
    let header = ["declaration", "change", "expected / month", "Δ expected", "worst case / month", "Δ worst case"];
    let mut out = String::new();
    if markdown {
        out.push_str("### Cost change\n\n");
        out.push_str(&format!("| {} |\n| --- | --- | ---: | ---: | ---: | ---: |\n", header.join(" | ")));
        for r in &rows {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
        }
    } else {
        let all: Vec<[String; 6]> = std::iter::once(header.map(str::to_string)).chain(rows.iter().cloned()).collect();
        let w: Vec<usize> = (0..6).map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for r in &all {
            let cells: Vec<String> = (0..6)
                .map(|i| if i < 2 { format!("{:<w$}", r[i], w = w[i]) } else { format!("{:>w$}", r[i], w = w[i]) })
                .collect();
            out.push_str(&format!("{}\n", cells.join("  ").trim_end()));
        }
    }
    for b in &head.budgets {
        let name = if markdown { format!("`{}`", cell(&b.address)) } else { one_line(&b.address) };
        out.push_str(&format!(
            "\nbudget {name}: {}/month; worst case {} ({}): {}\n",
            money(b.limit),
            money(head.worst),
            pct(b.worst_share),
            status(b, head.worst)
        ));
    }
    out
}

/// Output formats of `aistack cost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// What `aistack cost` prints: the report of `head` (titled `title`), or its comparison with
/// `base`.
pub fn render(head: &CostReport, base: Option<&CostReport>, format: Format, title: &str) -> String {
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    let text = match (format, base) {
        (Format::Json, Some(b)) => pretty(compare_json(b, head)),
        (Format::Json, None) => pretty(json(head)),
        (Format::Markdown, Some(b)) => compare_text(b, head, true),
        (Format::Markdown, None) => markdown(head, title),
        (Format::Table, Some(b)) => compare_text(b, head, false),
        (Format::Table, None) => table(head),
    };
    if format == Format::Json {
        return text; // serde escapes control characters
    }
    // Control characters from the input (a `for` key, a product name) are shown as visible
    // stand-ins, as the diagnostics show them, never sent to the terminal.
    text.lines().map(|l| crate::diag::render::clean(l).into_owned() + "\n").collect()
}

/// Whether the worst case exceeds any budget (`aistack cost` then exits 1).
pub fn over_budget(r: &CostReport) -> bool {
    r.budgets.iter().any(|b| b.over)
}
