//! Human diagnostics on hostile text: control characters from the source never reach the
//! terminal, underlines stay under the right characters (control characters, multi-byte
//! characters and CRLF line breaks before them), a byte order mark shifts no column, and a
//! [`Renderer`] prints exactly what one-by-one rendering prints.

use aistack::check::{self, Analysis};
use aistack::diag::render::{self, Renderer};
use aistack::world::MemoryWorld;
use aistack_tests::STACK_LINE;
use std::path::Path;

fn analyse(src: &str) -> Analysis {
    let world = MemoryWorld::default().with("/r/main.ai-stack", src.to_string());
    check::check(&world, Path::new("/r/main.ai-stack"), &[])
}

fn human(a: &Analysis) -> String {
    a.diags.iter().map(|d| render::render(d, &a.prog.sources, false)).collect()
}

/// Characters a terminal acts on: C0 controls other than tab and newline, DEL and C1.
fn controls(s: &str) -> Vec<char> {
    s.chars().filter(|c| matches!(c, '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}')).collect()
}

/// The rendered report of the diagnostic with `code`.
fn report_of(a: &Analysis, code: &str) -> String {
    let d = a.diags.iter().find(|d| d.code == code).unwrap_or_else(|| panic!("no {code}: {:?}", a.diags));
    render::render(d, &a.prog.sources, false)
}

/// Column (in characters) of `needle` on the printed source line that contains it (after
/// the `│` gutter), and of the first underline mark on the line below it.
fn underline_columns(report: &str, needle: &str) -> (usize, usize) {
    let lines: Vec<&str> = report.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.split_once('│').is_some_and(|(_, code)| code.contains(needle)))
        .unwrap_or_else(|| panic!("{needle:?} in {report}"));
    let byte = lines[at].rfind(needle).unwrap_or(0);
    let col = lines[at][..byte].chars().count();
    let mark = lines[at + 1].chars().position(|c| matches!(c, '┬' | '─')).unwrap_or(usize::MAX);
    (col, mark)
}

#[test]
fn control_characters_are_shown_as_visible_stand_ins() {
    let esc = "\x1b]0;t\x07\x1b[2J\u{9b}1m\x7f\x0c\r\u{2028}";
    let src = format!(
        "{STACK_LINE}\nlet x = \"{esc}\" + 1 // {esc}\nlet y = zz{esc}\nassert false else \"{esc}!\"\n/* {esc} */ let q = nope\n"
    );
    let a = analyse(&src);
    let out = human(&a);
    assert!(a.diags.len() >= 4, "{out}");
    assert_eq!(controls(&out), Vec::<char>::new(), "{out}");
    assert!(out.contains("\u{241b}]0;t\u{2407}\u{241b}[2J\u{fffd}1m\u{2421}\u{240c}\u{240d}\u{fffd}"), "{out}");
    assert!(out.contains("assertion failed: \u{241b}"), "messages are cleaned too: {out}");
    // Lines are counted as the compiler counts them: FF, CR and LS break no line here.
    let nope = a.diags.iter().find(|d| d.message.contains("nope")).map(|d| render::render(d, &a.prog.sources, false));
    assert!(nope.as_deref().is_some_and(|r| r.contains(" 5 │ /* ")), "{nope:?}");
    assert_eq!(render::clean("plain\ttab\n"), "plain\ttab\n");
    assert!(matches!(render::clean("plain"), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn underlines_stay_under_their_text() {
    // Stand-ins, multi-byte characters and a tab before the span, on a CRLF line.
    let src =
        format!("{STACK_LINE}\r\nlet s = \"\x1b\x1bé日本\" + 1\r\nlet t = 1 // ☃\x07\r\nlet u = \"é\"\t+ missing\r\n");
    let a = analyse(&src);
    let report = report_of(&a, "E0201");
    let (col, mark) = underline_columns(&report, "missing");
    assert_eq!(col, mark, "{report}");
    assert!(!report.contains('\r'), "{report:?}");
    let mismatch = a.diags.iter().find(|d| d.message.contains('+')).map(|d| render::render(d, &a.prog.sources, false));
    let mismatch = mismatch.unwrap_or_else(|| panic!("a type error on `+`: {}", human(&a)));
    let (col, mark) = underline_columns(&mismatch, "\"\u{241b}\u{241b}é日本\"");
    assert_eq!(col, mark, "{mismatch}");
}

#[test]
fn a_byte_order_mark_shifts_no_column() {
    let plain = format!("{STACK_LINE} let x = nope\n");
    let with_bom = format!("\u{feff}{plain}");
    let at = |src: &str| {
        let a = analyse(src);
        let v = aistack::diag::json::report(&a.diags, &a.prog.sources);
        let d = v["diagnostics"].as_array().and_then(|l| l.iter().find(|d| d["code"] == "E0201").cloned());
        let d = d.unwrap_or_else(|| panic!("{v}"));
        assert!(!v.to_string().contains("E0104"), "a BOM is not a bad character: {v}");
        (d["line"].as_u64(), d["column"].as_u64(), report_of(&a, "E0201"))
    };
    let (l1, c1, r1) = at(&plain);
    let (l2, c2, r2) = at(&with_bom);
    assert_eq!((l1, c1), (Some(1), Some(STACK_LINE.chars().count() as u64 + 10)));
    assert_eq!((l1, c1, r1), (l2, c2, r2), "the same report with and without the BOM");
}

#[test]
fn a_renderer_prints_what_rendering_one_by_one_prints() {
    let mut src = format!("{STACK_LINE}\n");
    for i in 0..300 {
        src.push_str(&format!("let v{i} = \"\x1b{i}\" + u{i}\n"));
    }
    let a = analyse(&src);
    assert!(a.diags.len() >= 600, "{}", a.diags.len());
    let mut r = Renderer::new(&a.prog.sources, false);
    let together: String = a.diags.iter().map(|d| r.render(d)).collect();
    assert_eq!(together, human(&a));
}

/// A diagnostic on a very long line shows a window around its span, so rendering stays fast
/// and the output short however long the line is (ariadne lays out the whole line).
#[test]
fn long_lines_are_shown_as_a_window_around_the_span() {
    let stack = "stack s { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n";
    let src = format!("{stack}let x = [{}nowhere]\n", "1, ".repeat(50_000));
    let world = aistack::world::MemoryWorld::default().with("/p/main.ai-stack", src.clone());
    let a = aistack::check::check(&world, std::path::Path::new("/p/main.ai-stack"), &[]);
    let d = a.diags.iter().find(|d| d.code == "E0201").expect("unknown name reported");
    let started = std::time::Instant::now();
    let shown = aistack::diag::render::render(d, &a.prog.sources, false);
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "rendering took {:?}", started.elapsed());
    assert!(shown.len() < 1_000, "{} bytes", shown.len());
    let col = src.lines().nth(1).and_then(|l| l.find("nowhere")).expect("col") + 1;
    assert!(shown.contains(&format!("main.ai-stack:2:{col}")), "{shown}");
    assert!(shown.contains("…1, 1, ") && shown.contains("nowhere]") && shown.contains("^^^^^^^ "), "{shown}");
    assert!(shown.contains("unknown name `nowhere`"), "{shown}");
}
