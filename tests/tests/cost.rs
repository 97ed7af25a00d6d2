//! The cost model (`compiler/src/cost`): the costs of the stacks in `tests/cost/` against a
//! hand computation from the catalog's prices, to the cent; the JSON fields; the Markdown
//! comment (snapshot); the comparison of two versions; recommendations with exact savings;
//! and the budget rule and editor hints reading the same figures.

use aistack::check;
use aistack::cost::{self, report, CostReport};
use aistack::world::DiskWorld;
use std::path::{Path, PathBuf};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cost").join(name)
}

fn analysis(name: &str) -> check::Analysis {
    let a = check::check(&DiskWorld, &path(name), &[]);
    let other: Vec<String> =
        a.diags.iter().filter(|d| d.is_error() && d.code != "E0408").map(|d| d.message.clone()).collect();
    assert!(other.is_empty(), "{name}: {other:?}");
    a
}

fn report_of(name: &str) -> CostReport {
    cost::of_analysis(&analysis(name))
}

/// Dollars rounded to the cent.
fn c(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// (expected, worst) of the line `kind address`, in cents.
fn line(r: &CostReport, kind: &str, address: &str) -> (f64, f64) {
    let l = r.lines.iter().find(|l| l.kind == kind && l.address == address).unwrap_or_else(|| {
        panic!("no {kind} {address}: {:?}", r.lines.iter().map(|l| (&l.kind, &l.address)).collect::<Vec<_>>())
    });
    (c(l.expected.monthly), c(l.worst.monthly))
}

const H: f64 = 730.0; // hours per month
const G6E_XLARGE: f64 = 1.861; // $/h, L40S × 1 (stdlib gpu_offer g6e_xlarge)
const G6_XLARGE: f64 = 0.8048; // $/h, L4 × 1 (g6_xlarge)
const S3_STANDARD: f64 = 0.023; // $/GB-month (storage_price s3_standard)
const S3_IA: f64 = 0.0125; // $/GB-month (s3_standard_ia)
const FSX_250: f64 = 0.21; // $/GB-month (fsx_lustre_250, the warm tier)
const CLOUDFRONT: f64 = 0.085; // $/GB (cloudfront_egress)
const INTER_REGION: f64 = 0.02; // $/GB (s3_inter_region)
const RTC: f64 = 0.015; // $/GB (s3_rtc)
const BACKUP_FSX: f64 = 0.05; // $/GB-month (backup_fsx)
const SPOT: f64 = 0.60; // spot_default.discount

#[test]
fn known_stack_costs_equal_a_hand_computation() {
    let r = report_of("known.ai-stack");
    // serve: nodes 1..4, but `chat` needs 2 replicas × 1 GPU at its minimum: 2 nodes expected.
    let serve = (c(2.0 * G6E_XLARGE * H), c(4.0 * G6E_XLARGE * H));
    assert_eq!(line(&r, "gpu_pool", "serve"), serve);
    assert_eq!(serve, (2717.06, 5434.12));
    // batch: spot, 0..2 nodes, no service: 0 expected; worst case 2 nodes on demand.
    let batch = (c(0.0 * G6_XLARGE * H * (1.0 - SPOT)), c(2.0 * G6_XLARGE * H));
    assert_eq!(line(&r, "gpu_pool", "batch"), batch);
    // models: hot S3, 500 GiB (AWS bills GB = 2^30 bytes).
    let models = c(500.0 * S3_STANDARD);
    assert_eq!(line(&r, "storage", "models"), (models, models));
    // scratch: FSx asks 1000 GiB, created with 1200 GiB (the smallest PERSISTENT_2 size).
    let scratch = c(1200.0 * FSX_250);
    assert_eq!(line(&r, "storage", "scratch"), (scratch, scratch));
    let site = c(100.0 * S3_IA);
    assert_eq!(line(&r, "storage", "site"), (site, site));
    // web: the stack's assumption, 2 TiB = 2048 GB per month.
    let web = c(2048.0 * CLOUDFRONT);
    assert_eq!(line(&r, "cdn", "web"), (web, web));
    // models replicated: 5% of 500 GB written per month crosses regions with the RTC fee,
    // and the replica is stored at the same price.
    let repl = c(500.0 * 0.05 * (INTER_REGION + RTC) + 500.0 * S3_STANDARD);
    assert_eq!(line(&r, "replication", "regional → models"), (repl, repl));
    // scratch backed up: 1200 GB plus 5% churn over the 730h (one month) kept.
    let backup = c(1200.0 * (1.0 + 0.05 * 1.0) * BACKUP_FSX);
    assert_eq!(line(&r, "backup", "regional → scratch"), (backup, backup));
    // The totals are the exact sums, rounded once (batch's worst case is $1,175.008, the
    // replication $12.375).
    let exact_batch = 2.0 * G6_XLARGE * H;
    let exact_repl = 500.0 * 0.05 * (INTER_REGION + RTC) + 500.0 * S3_STANDARD;
    let expected = serve.0 + models + scratch + site + web + exact_repl + backup;
    let worst = serve.1 + exact_batch + models + scratch + site + web + exact_repl + backup;
    assert_eq!((c(r.expected), c(r.worst)), (c(expected), c(worst)));
    assert_eq!(r.lines.len(), 8, "one line per priced declaration");
    let b = &r.budgets[0];
    assert_eq!((b.address.as_str(), c(b.limit), b.over), ("monthly", 10_000.0, false));
    assert!((b.worst_share - worst / 10_000.0).abs() < 1e-6);
    assert_eq!(r.assumptions.from, "cost_assumptions `traffic`");
    assert_eq!((r.assumptions.cdn_egress_gb, r.assumptions.churn), (2048.0, 0.05));
}

#[test]
fn every_line_names_its_prices_with_date_and_source() {
    let r = report_of("known.ai-stack");
    for l in &r.lines {
        assert!(!l.prices.is_empty(), "{} {}", l.kind, l.address);
        for p in l.prices.iter().filter(|p| p.per != "share of on-demand") {
            assert!(p.date.len() == 10 && !p.source.is_empty(), "{p:?}");
        }
    }
    let serve = r.lines.iter().find(|l| l.address == "serve").expect("serve");
    assert_eq!(serve.prices[0].date, "2026-07-06");
    assert_eq!(serve.expected.basis, "2 × $1.861/h × 730 h");
    let s3 = r.lines.iter().find(|l| l.address == "models").expect("models");
    assert!(s3.prices[0].source.starts_with("https://aws.amazon.com/s3/pricing/"), "{:?}", s3.prices);
}

#[test]
fn json_has_the_documented_fields() {
    let r = report_of("known.ai-stack");
    let j = report::json(&r);
    assert_eq!(j["schema"], "aistack.cost/1");
    assert_eq!(j["expected"].as_f64(), Some(c(r.expected)));
    assert_eq!(j["worst"].as_f64(), Some(c(r.worst)));
    let lines = j["lines"].as_array().expect("lines");
    let serve = lines.iter().find(|l| l["address"] == "serve").expect("serve");
    assert_eq!(serve["kind"], "gpu_pool");
    assert_eq!(serve["expected"]["monthly"].as_f64(), Some(2717.06));
    assert_eq!(serve["worst"]["monthly"].as_f64(), Some(5434.12));
    assert_eq!(serve["pool"]["instance"], "g6e.xlarge");
    assert_eq!(serve["pool"]["nodes_expected"].as_f64(), Some(2.0));
    assert_eq!(serve["prices"][0]["per"], "instance-hour");
    assert_eq!(serve["prices"][0]["dollars"].as_f64(), Some(1.861));
    let storage = lines.iter().find(|l| l["address"] == "models").expect("models");
    assert!(storage.get("pool").is_none());
    assert_eq!(j["budgets"][0]["over"], false);
    assert_eq!(j["budgets"][0]["limit"].as_f64(), Some(10_000.0));
    assert_eq!(j["assumptions"]["hours_per_month"].as_f64(), Some(730.0));
    assert!(j["recommendations"].is_array());
}

#[test]
fn markdown_comment_snapshot() {
    let r = report_of("known.ai-stack");
    let md = report::markdown(&r, "known.ai-stack");
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("cost__known-markdown", md);
    });
}

#[test]
fn compare_shows_each_declaration_and_the_total() {
    let base = report_of("known.ai-stack");
    let head = report_of("known-v2.ai-stack");
    let changes = report::compare(&base, &head);
    let find = |a: &str| changes.iter().find(|x| x.address == a).unwrap_or_else(|| panic!("{a}: {changes:?}"));
    let d = |x: (f64, f64)| (c(x.0), c(x.1));
    // serve: nodes.max 4 → 6, replicas.min still 2.
    assert_eq!(find("serve").change, "changed");
    assert_eq!(d(find("serve").delta()), (0.0, c(2.0 * G6E_XLARGE * H)));
    // extra: a new 1..1 L4 pool.
    assert_eq!(find("extra").change, "added");
    assert_eq!(d(find("extra").delta()), (c(G6_XLARGE * H), c(G6_XLARGE * H)));
    // models: 500 GiB → 1 TiB.
    assert_eq!(d(find("models").delta()), (c(524.0 * S3_STANDARD), c(524.0 * S3_STANDARD)));
    assert_eq!(find("web").change, "removed");
    assert_eq!(d(find("web").delta()), (-c(2048.0 * CLOUDFRONT), -c(2048.0 * CLOUDFRONT)));
    assert_eq!(find("batch").change, "unchanged");
    let j = report::compare_json(&base, &head);
    assert_eq!(j["schema"], "aistack.cost-compare/1");
    assert_eq!(j["delta"]["worst"].as_f64(), Some(c(head.worst - base.worst)));
    let text = report::compare_text(&base, &head, true);
    assert!(text.contains("| gpu_pool `extra` | added | $587.50 | +$587.50 |"), "{text}");
    assert!(!text.contains("`batch`"), "unchanged lines are left out:\n{text}");
}

#[test]
fn oversized_service_gets_the_cheapest_fit_and_its_exact_saving() {
    let r = report_of("oversized.ai-stack");
    let rec = |kind: &str| {
        r.recommendations.iter().find(|x| x.kind == kind).unwrap_or_else(|| panic!("{kind}: {:?}", r.recommendations))
    };
    // Now: 70B bf16 with tensor_parallel 8 on p5.48xlarge ($55.04/h): 1..2 replicas take 1..2 nodes.
    let now = (55.04 * H, 2.0 * 55.04 * H);
    // 130.4 GiB of weights + 1.5 GiB of KV cache = 131.9 GiB; 4 × L40S hold 4 × 44.7 × 90% =
    // 160.9 GiB, 2 do not (80.5). g6e.12xlarge carries exactly 4: one replica per node.
    let l40s = (1.0 * 10.49264 * H, 2.0 * 10.49264 * H);
    let cheaper = rec("cheaper_gpu");
    assert_eq!(cheaper.address, "big");
    assert!(cheaper.message.contains("L40S with tensor_parallel = 4 (g6e.12xlarge)"), "{}", cheaper.message);
    assert_eq!((c(cheaper.saving_expected), c(cheaper.saving_worst)), (c(now.0 - l40s.0), c(now.1 - l40s.1)));
    assert_eq!(c(cheaper.saving_worst), 65_039.15);
    // On its own GPU: 2 × H100 hold 2 × 79.6 × 90% = 143.3 GiB, so tensor_parallel 2; two
    // replicas then share one 8-GPU node.
    let tp = rec("tensor_parallel");
    assert!(tp.message.contains("fits on 2 × H100_80GB"), "{}", tp.message);
    assert_eq!((c(tp.saving_expected), c(tp.saving_worst)), (0.0, c(now.1 - 55.04 * H)));
    // warm_spare: nodes.min 2 and no service: both idle.
    let idle = rec("idle_minimum");
    assert_eq!((idle.address.as_str(), c(idle.saving_expected)), ("warm_spare", c(2.0 * G6_XLARGE * H)));
    // burst: on demand, scales to zero: spot at the catalog's 60% estimate of its worst case.
    let spot = rec("spot");
    assert_eq!((spot.address.as_str(), c(spot.saving_worst)), ("burst", c(2.0 * G6_XLARGE * H * SPOT)));
    assert!(spot.figures.iter().any(|f| f.contains("aws.amazon.com/ec2/spot")), "{:?}", spot.figures);
    // h100 needs its one minimum node (1 replica × 8 GPUs) and never scales to zero.
    assert!(!r.recommendations.iter().any(|x| x.address == "h100"), "{:?}", r.recommendations);
}

#[test]
fn the_budget_rule_reads_the_same_totals() {
    let a = analysis("over.ai-stack");
    let r = cost::of_analysis(&a);
    let over: Vec<&String> = a.diags.iter().filter(|d| d.code == "E0408").map(|d| &d.message).collect();
    assert_eq!(over.len(), 1, "{over:?}");
    // 2 × p5.48xlarge + 3 + 2 × g6.xlarge, worst case.
    let worst = 2.0 * 55.04 * H + 5.0 * G6_XLARGE * H;
    assert_eq!(c(r.worst), c(worst));
    assert!(over[0].contains(&format!("worst-case cost {}/month", cost::money(worst))), "{}", over[0]);
    assert!(r.budgets[0].over && report::over_budget(&r));
}

#[test]
fn pool_hints_come_from_the_report() {
    let root = path("known.ai-stack");
    let ws = aistack::ide::analyze(&DiskWorld, &root, &[]);
    let file = ws
        .file(&root.canonicalize().unwrap_or(root.clone()).display().to_string())
        .or_else(|| ws.prog.sources.iter().find(|(_, f)| f.name.ends_with("known.ai-stack")).map(|(id, _)| id));
    let hints = aistack::ide::inlay_hints(&ws, file.expect("the root file"));
    let texts: Vec<&str> = hints.iter().map(|h| h.1.as_str()).collect();
    assert!(texts.contains(&": g6e.xlarge, $5,434 per month worst case"), "{texts:?}");
    assert!(texts.contains(&": g6.xlarge, $1,175 per month worst case"), "{texts:?}");
}

/// The value of `name = N` in an HCL block, as Infracost reads it from the plan.
fn hcl_int(hcl: &str, name: &str) -> f64 {
    hcl.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.trim().strip_prefix('=')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{hcl}"))
}

/// Infracost is not installable here (a Go binary from GitHub releases; not on PyPI or npm).
/// Instead, price the rag example's emitted Terraform the way Infracost does, from the
/// resource attributes and the AWS price list figures in the catalog, and compare with the
/// cost model: the FSx file system agrees; the KMS key ($1/month) is the one Terraform
/// resource aistack does not price; the GPU pools are Karpenter NodePools (Kubernetes, not
/// Terraform), which Infracost cannot price and aistack does.
#[test]
fn terraform_part_of_rag_agrees_with_a_price_list_computation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rag/main.ai-stack");
    let a = check::check(&DiskWorld, &root, &[]);
    assert!(!a.has_errors());
    let r = cost::of_analysis(&a);
    let (files, diags) = aistack::emit::emit(&aistack::ir::lower(&a));
    assert!(diags.iter().all(|d| !d.is_error()));
    let hcl = files
        .iter()
        .find(|f| f.path == "terraform/storage_vector_index.tf")
        .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
        .expect("the FSx file system");
    assert!(hcl.contains("resource \"aws_fsx_lustre_file_system\"") && hcl.contains("\"PERSISTENT_2\""), "{hcl}");
    let capacity_gb = hcl_int(&hcl, "storage_capacity");
    let throughput = hcl_int(&hcl, "per_unit_storage_throughput");
    // FSx for Lustre PERSISTENT_2 SSD per GB-month by MB/s/TiB (the catalog's AWS list prices).
    let per_gb = match throughput as i64 {
        125 => 0.145,
        250 => 0.21,
        500 => 0.34,
        other => panic!("throughput {other}"),
    };
    let terraform = c(capacity_gb * per_gb);
    assert_eq!((capacity_gb, throughput, terraform), (2400.0, 500.0, 816.0));
    assert_eq!(line(&r, "storage", "vector_index"), (terraform, terraform));
    // Buckets without a `size` are usage-priced by Infracost too ($0 without a usage file).
    for b in ["documents", "index_snapshots", "models"] {
        assert_eq!(line(&r, "storage", b), (0.0, 0.0));
    }
    // What Infracost cannot see: the Karpenter pools, priced here from their instance types.
    let pools: f64 = r.lines.iter().filter(|l| l.kind == "gpu_pool").map(|l| l.worst.monthly).sum();
    assert_eq!(c(pools), c(2.0 * G6_XLARGE * H + 2.0 * G6_XLARGE * H + 4.0 * G6E_XLARGE * H));
    assert!(!files
        .iter()
        .any(|f| f.path.starts_with("terraform/") && String::from_utf8_lossy(&f.bytes).contains("aws_eks_node_group")));
}

/// A `for` key with a line break, a pipe and an escape character keeps every table row on
/// one line, and reaches the terminal only as visible stand-ins.
#[test]
fn hostile_keys_keep_the_tables_whole() {
    let src = "stack st { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n\
               gpu_pool p for k in [\"a\\nb|c\u{1b}[31m\"] {\n  gpu = L4\n  gpus_per_node = 1\n  nodes = 1..2\n}\n\
               budget b { limit = $10_000/month }\n";
    let world = aistack::world::MemoryWorld::default().with("/p/main.ai-stack", src);
    let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
    assert!(!a.has_errors(), "{:?}", a.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let r = cost::of_analysis(&a);
    assert_eq!(r.lines.len(), 1);
    let md = report::render(&r, None, report::Format::Markdown, "main.ai-stack");
    let row = md.lines().find(|l| l.starts_with("| gpu_pool")).expect("the pool's row");
    assert!(row.contains("a\\nb\\|c␛[31m") && row.ends_with("| $587.50 | $1,175.01 |"), "{row}");
    let table = report::render(&r, None, report::Format::Table, "main.ai-stack");
    assert!(!table.contains('\u{1b}'), "{table}");
    let row = table.lines().find(|l| l.starts_with("gpu_pool")).expect("the pool's row");
    assert!(row.trim_end().ends_with("$1,175.01"), "{row}");
    let json = report::render(&r, None, report::Format::Json, "main.ai-stack");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["lines"][0]["address"], "p[\"a\nb|c\u{1b}[31m\"]");
}

/// 2,000 pool instances with a service each are priced in well under a second (each shared
/// figure is computed once, not once per pool; 8,000 + 8,000 took 0.27 s, their check 18 s).
#[test]
fn many_instances_stay_linear() {
    let mut src = String::from(
        "stack st { cloud = aws, region = \"us-east-1\", cluster = \"c\", namespace = \"n\" }\n\
         storage m { tier = warm, backend = s3, bucket = \"many-models\" }\n\
         model tiny { store = m, path = \"t\", version = \"1\", parameters = 1e8 }\n\
         let d1 = [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", \"8\", \"9\"]\n\
         let d2 = sum(map(x in d1, map(y in d1, \"${x}${y}\")))\n\
         let d3 = sum(map(x in d2, map(y in d1, \"${x}${y}\")))\n\
         let keys = sum(map(p in [\"a\", \"b\"], map(x in d3, \"${p}${x}\")))\n",
    );
    src.push_str("gpu_pool p for k in keys { gpu = L4, gpus_per_node = 1, nodes = 0..1 }\n");
    src.push_str("service svc for k in keys { model = tiny, pool = p[k], replicas = 0..1, max_batch = 1 }\n");
    let world = aistack::world::MemoryWorld::default().with("/p/main.ai-stack", src);
    let a = check::check(&world, Path::new("/p/main.ai-stack"), &[]);
    let errors: Vec<&String> = a.diags.iter().filter(|d| d.is_error()).map(|d| &d.message).collect();
    assert!(errors.is_empty(), "{:?}", errors.first());
    let start = std::time::Instant::now();
    let r = cost::of_analysis(&a);
    let took = start.elapsed();
    assert_eq!(r.lines.iter().filter(|l| l.kind == "gpu_pool").count(), 2000);
    assert_eq!(c(r.worst), c(2000.0 * G6_XLARGE * H));
    assert!(took < std::time::Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 2 }), "{took:?}");
}
