//! The emitted Terraform is exactly what `terraform fmt` would write (when terraform is on
//! the PATH; init/validate against the provider run in .ci/run through the validators).

use aistack_tests::{build_file, example_stacks};
use std::process::Command;

#[test]
fn terraform_fmt_leaves_the_output_unchanged() {
    if Command::new("terraform").arg("version").output().is_err() {
        println!("SKIPPED: terraform is not on the PATH");
        return;
    }
    let dir = std::env::temp_dir().join(format!("aistack-tffmt-{}", std::process::id()));
    let mut checked = 0;
    for (name, path) in example_stacks() {
        let case = dir.join(&name);
        let _ = std::fs::remove_dir_all(&case);
        for a in build_file(&path).iter().filter(|a| a.path.starts_with("terraform/")) {
            let p = case.join(&a.path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, &a.bytes).expect("write");
            checked += 1;
        }
        if !case.join("terraform").exists() {
            continue;
        }
        let out = Command::new("terraform")
            .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
            .arg(case.join("terraform"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .output()
            .expect("run terraform");
        assert!(out.status.success(), "{name}: terraform fmt would change:\n{}", String::from_utf8_lossy(&out.stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(checked > 0, "no Terraform files were emitted");
}
