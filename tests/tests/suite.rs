//! Runs the annotated suite files: each section is a program whose diagnostics must match
//! its inline annotations exactly (both directions).

use aistack_tests::{run_suite, workspace};

#[test]
fn parse_suite() {
    let n = run_suite(&workspace().join("tests/suite/parse"));
    println!("{n} parse sections");
}

#[test]
fn check_suite() {
    let n = run_suite(&workspace().join("tests/suite/check"));
    println!("{n} check sections");
}

#[test]
fn rules_suite() {
    let n = run_suite(&workspace().join("tests/suite/rules"));
    println!("{n} rules sections");
}
