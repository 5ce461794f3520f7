//! The tool commands' library side over the vendor simulators: `export` writes exactly the
//! simulator's book, and an interrupted export resumes without losing or repeating a line.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use creditgate::export::{self, Customers, ExportRequest, Format, Silent};
use creditgate::migrate;
use creditgate::{Config, Gateway};
use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use rust_decimal::Decimal;
use serde_json::Value;

async fn demo(entries: usize) -> (Demo, Gateway) {
    let options = SimOptions {
        seed: 21,
        customers: 5,
        entries_per_customer: entries,
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    };
    let demo = Demo::start(&options).await.unwrap();
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    let gateway = Gateway::check_config(&config).unwrap();
    (demo, gateway)
}

fn out_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("creditgate-tools-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut checkpoint = path.as_os_str().to_owned();
    checkpoint.push(".checkpoint");
    let _ = std::fs::remove_file(PathBuf::from(checkpoint));
    path
}

/// id → (amount, unit) of the exported objects of one kind; a repeated id fails.
fn exported(path: &PathBuf, object: &str) -> BTreeMap<String, (Decimal, String)> {
    let mut items = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if value["object"] != object {
            continue;
        }
        let (key, money) = match object {
            "credit_balance" => (value["unit"].as_str().unwrap().to_owned(), &value["available"]),
            _ => (value["id"].as_str().unwrap().to_owned(), &value["amount"]),
        };
        let amount = (
            money["value"].as_str().unwrap().parse().unwrap(),
            money["unit"].as_str().unwrap().to_owned(),
        );
        assert!(items.insert(key.clone(), amount).is_none(), "{key} written twice");
    }
    items
}

#[tokio::test]
async fn an_export_holds_exactly_the_simulators_book_at_every_vendor() {
    let (demo, gateway) = demo(120).await;
    for vendor in Vendor::ALL {
        let simulator = demo.simulator(vendor);
        let out = out_path(&format!("book-{vendor}.ndjson"));
        let request = ExportRequest {
            customers: Customers::Listed(vec![format!("{vendor}:{}", simulator.customer_id(1))]),
            out: out.clone(),
            format: Format::Ndjson,
            resume: false,
        };
        let summary = export::export(&gateway, &request, &Silent).await.unwrap();
        let truth = simulator.truth(1);
        assert_eq!(exported(&out, "credit_ledger_entry"), truth.ledger, "{vendor} ledger");
        assert_eq!(exported(&out, "credit_grant"), truth.grants, "{vendor} grants");
        let balances: BTreeMap<String, Decimal> = exported(&out, "credit_balance")
            .into_iter()
            .map(|(unit, (value, _))| (unit, value))
            .collect();
        assert_eq!(balances, truth.balances, "{vendor} balances");
        assert_eq!(summary.ledger_entries as usize, truth.ledger.len());
        // Done: the checkpoint is gone, and the same output again is refused.
        let again = export::export(&gateway, &request, &Silent).await.unwrap_err();
        assert!(again.to_string().contains("exists"), "{again}");
        std::fs::remove_file(&out).unwrap();
    }
}

#[tokio::test]
async fn an_interrupted_export_resumes_without_losing_or_repeating_a_line() {
    let (demo, gateway) = demo(1_500).await;
    let customers: Vec<String> = (0..3)
        .map(|i| format!("vayu:{}", demo.simulator(Vendor::Vayu).customer_id(i)))
        .chain((0..3).map(|i| format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(i))))
        .collect();
    let out = out_path("resume.ndjson");
    let request = ExportRequest {
        customers: Customers::Listed(customers.clone()),
        out: out.clone(),
        format: Format::Ndjson,
        resume: false,
    };
    let mut checkpoint = out.as_os_str().to_owned();
    checkpoint.push(".checkpoint");
    let checkpoint = PathBuf::from(checkpoint);
    // Stop it somewhere in the second customer, between two awaits.
    let task = {
        let (gateway, request) = (gateway.clone(), request.clone());
        tokio::spawn(async move { export::export(&gateway, &request, &Silent).await })
    };
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let at = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|c| c["customer"].as_u64());
        if at.is_some_and(|c| c >= 1) || task.is_finished() {
            break;
        }
    }
    task.abort();
    assert!(task.await.is_err(), "the export was stopped before it finished");
    // A half-written line after the checkpoint, as a crash mid-write leaves.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
        file.write_all(br#"{"object":"credit_ledger_entry","id":"vayu:torn"#)
            .unwrap();
    }
    // Without --resume the output is not touched.
    let refused = export::export(&gateway, &request, &Silent).await.unwrap_err();
    assert!(refused.to_string().contains("--resume"), "{refused}");
    let resumed = ExportRequest {
        resume: true,
        ..request.clone()
    };
    // A checkpoint whose output was cut short is refused, never padded.
    let saved = std::fs::read(&out).unwrap();
    std::fs::write(&out, b"").unwrap();
    let cut = export::export(&gateway, &resumed, &Silent).await.unwrap_err();
    assert!(cut.to_string().contains("shorter"), "{cut}");
    std::fs::write(&out, saved).unwrap();
    let summary = export::export(&gateway, &resumed, &Silent).await.unwrap();
    assert!(!checkpoint.exists());
    let mut expected_ledger = BTreeMap::new();
    for (vendor, index) in (0..3)
        .map(|i| (Vendor::Vayu, i))
        .chain((0..3).map(|i| (Vendor::Stripe, i)))
    {
        expected_ledger.extend(demo.simulator(vendor).truth(index).ledger);
    }
    assert_eq!(exported(&out, "credit_ledger_entry"), expected_ledger);
    assert_eq!(summary.ledger_entries as usize, expected_ledger.len());
    assert_eq!(summary.customers, customers.len());
    std::fs::remove_file(&out).unwrap();
}

/// Progress that counts, so a test can stop a run part-way.
#[derive(Default)]
struct Count(std::sync::atomic::AtomicU64);

impl export::Progress for Count {
    fn advance(&self, n: u64) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
    }
    fn say(&self, _line: &str) {}
}

fn pairs(demo: &Demo, from: Vendor, to: Vendor, customers: usize) -> Vec<migrate::Pair> {
    (0..customers)
        .map(|i| migrate::Pair {
            from: format!("{from}:{}", demo.simulator(from).customer_id(i)),
            to: format!("{to}:{}", demo.simulator(to).customer_id(i)),
        })
        .collect()
}

fn store_beside(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("creditgate-tools-{}-{name}.redb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn options(unit_map: BTreeMap<String, String>) -> migrate::PlanOptions {
    migrate::PlanOptions {
        unit_map,
        include_migrated: false,
    }
}

fn apply_options(void_source: bool) -> migrate::ApplyOptions {
    migrate::ApplyOptions {
        void_source,
        history: out_path("history.ndjson"),
    }
}

/// Applies `plan`; each item's outcome.
async fn apply(gateway: &Gateway, plan: &migrate::Plan, void_source: bool) -> Vec<migrate::Applied> {
    migrate::apply(gateway, plan, &apply_options(void_source), &Silent)
        .await
        .unwrap()
        .items
}

async fn writer(demo: &Demo, store: &std::path::Path) -> Gateway {
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    Gateway::with_store_at(&config, store).unwrap()
}

#[tokio::test]
async fn plan_apply_and_reconcile_move_every_remainder_exactly_once() {
    let unit_map: BTreeMap<String, String> = [("USD".to_owned(), "GBP".to_owned())].into();
    let cases = [
        (Vendor::Stripe, Vendor::Togai, BTreeMap::new()),
        (Vendor::Metronome, Vendor::Sequence, unit_map),
        (Vendor::Lago, Vendor::Togai, BTreeMap::new()),
        (Vendor::Stripe, Vendor::Lago, BTreeMap::new()),
    ];
    for (from, to, units) in cases {
        // A demo of its own: a target's grants migrated from another case would count.
        let (demo, reader) = demo(60).await;
        // Customer 0 of each: Stripe's is in USD, Metronome's in USD cents.
        let pairs = pairs(&demo, from, to, 1);
        let plan = migrate::plan(&reader, &pairs, &options(units), &Silent).await.unwrap();
        assert!(!plan.items.is_empty(), "{from}: {plan:?}");
        let live = demo.simulator(from).truth(0);
        let store = store_beside(&format!("{from}-{to}"));
        let gateway = writer(&demo, &store).await;
        let before = demo.simulator(to).written_grants(0);
        let outcomes = apply(&gateway, &plan, false).await;
        assert!(
            outcomes.iter().all(|o| o.error.is_none() && !o.replayed),
            "{outcomes:?}"
        );
        assert_eq!(demo.simulator(to).written_grants(0), before + plan.items.len());
        // Again: everything replays, nothing is created.
        let again = apply(&gateway, &plan, false).await;
        assert!(again.iter().all(|o| o.replayed), "{again:?}");
        assert_eq!(demo.simulator(to).written_grants(0), before + plan.items.len());
        let report = migrate::reconcile(&reader, &pairs, &plan.unit_map).await.unwrap();
        assert!(report.differences.is_empty(), "{from} → {to}: {:?}", report.differences);
        assert_eq!(report.matched_grants, plan.items.len());
        assert!(!live.grants.is_empty());
    }
}

#[tokio::test]
async fn an_interrupted_apply_rerun_makes_one_grant_per_source_grant_and_void_source_empties_it() {
    let (demo, reader) = demo(30).await;
    let pairs = pairs(&demo, Vendor::Stripe, Vendor::Togai, 5);
    let plan = migrate::plan(&reader, &pairs, &options(BTreeMap::new()), &Silent)
        .await
        .unwrap();
    // Stripe's simulated customers 0 and 4 hold USD, Togai's accounts USD; the others'
    // EUR, JPY and KWD grants are refused by the plan, with Togai's reason.
    assert!(plan.items.len() >= 2, "{plan:?}");
    assert!(!plan.unmapped.is_empty());
    assert!(
        plan.unmapped.iter().any(|u| u.reason.contains("credits are in USD")),
        "{:?}",
        plan.unmapped
    );
    let store = store_beside("interrupted");
    let written = || -> usize { (0..5).map(|i| demo.simulator(Vendor::Togai).written_grants(i)).sum() };
    {
        let gateway = writer(&demo, &store).await;
        let count = std::sync::Arc::new(Count::default());
        let task = {
            let (gateway, plan, count) = (gateway.clone(), plan.clone(), count.clone());
            tokio::spawn(async move { migrate::apply(&gateway, &plan, &apply_options(false), &*count).await })
        };
        while count.0.load(std::sync::atomic::Ordering::SeqCst) == 0 && !task.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        task.abort();
        let _ = task.await;
    }
    let partial = written();
    assert!(
        partial >= 1 && partial < plan.items.len(),
        "stopped part-way: {partial}"
    );
    // The store is released once the first run's last write task has ended (a process
    // that stops releases it at once): rerun with void-source.
    let mut config = Config::from_toml_str(&demo.config_toml("127.0.0.1:0", None)).unwrap();
    config.unthrottle();
    let mut gateway = Gateway::with_store_at(&config, &store);
    for _ in 0..200 {
        if gateway.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        gateway = Gateway::with_store_at(&config, &store);
    }
    let gateway = gateway.unwrap();
    let outcomes = apply(&gateway, &plan, true).await;
    assert!(
        outcomes.iter().all(|o| o.error.is_none() && o.source_ended),
        "{outcomes:?}"
    );
    assert_eq!(written(), plan.items.len(), "exactly one grant per source grant");
    for i in [0, 4] {
        let left = demo.simulator(Vendor::Stripe).truth(i);
        assert!(
            left.balances.values().all(|b| b.is_zero()),
            "source {i}: {:?}",
            left.balances
        );
    }
}

#[tokio::test]
async fn bad_plans_and_unmappable_grants_are_named() {
    let (demo, reader) = demo(30).await;
    // Metronome customer 2 holds a custom credit type; Sequence grants cash only.
    let pairs = vec![migrate::Pair {
        from: format!("metronome:{}", demo.simulator(Vendor::Metronome).customer_id(2)),
        to: format!("sequence:{}", demo.simulator(Vendor::Sequence).customer_id(2)),
    }];
    let plan = migrate::plan(&reader, &pairs, &options(BTreeMap::new()), &Silent)
        .await
        .unwrap();
    assert!(plan.items.is_empty());
    let reasons: Vec<&str> = plan.unmapped.iter().map(|u| u.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("amount.unit: sequence:")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("amount.unit:") || *r == "the grant is depleted"),
        "{reasons:?}"
    );
    // An unknown customer reference.
    let nobody = vec![migrate::Pair {
        from: "nobody".into(),
        to: "togai:ACC-SIM-0000".into(),
    }];
    assert!(migrate::plan(&reader, &nobody, &options(BTreeMap::new()), &Silent)
        .await
        .is_err());
    // A plan edited by hand: a changed amount no longer matches its key.
    let pairs = self::pairs(&demo, Vendor::Stripe, Vendor::Togai, 1);
    let plan = migrate::plan(&reader, &pairs, &options(BTreeMap::new()), &Silent)
        .await
        .unwrap();
    let mut text: Value = serde_json::to_value(&plan).unwrap();
    text["items"][0]["create"]["amount"]["value"] = "999999".into();
    let err = migrate::read_plan(&text.to_string()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(migrate::read_plan("{\"version\": 1}").is_err());
    assert!(migrate::read_plan(&serde_json::to_string(&plan).unwrap()).is_ok());
}

/// An export never writes through a symlink: one planted at the checkpoint's temporary
/// name, at the output for `--resume` (with a planted checkpoint), or dangling at the output,
/// leaves its target as it was.
#[tokio::test]
async fn an_export_never_writes_through_a_link() {
    let (demo, gateway) = demo(20).await;
    let customer = format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(0));
    let victim = out_path("victim");
    std::fs::write(&victim, "keep").unwrap();
    let request = |out: &PathBuf, resume: bool| ExportRequest {
        customers: Customers::Listed(vec![customer.clone()]),
        out: out.clone(),
        format: Format::Ndjson,
        resume,
    };
    let beside = |out: &PathBuf, suffix: &str| {
        let mut name = out.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };

    // The checkpoint's old fixed temporary name, linked to the victim.
    let out = out_path("linked-temp.ndjson");
    let temp = beside(&out, ".checkpoint.tmp");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(&victim, &temp).unwrap();
    export::export(&gateway, &request(&out, false), &Silent).await.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");

    // --resume with the output a link to the victim and a checkpoint planted beside it.
    let linked = out_path("linked-out.ndjson");
    std::os::unix::fs::symlink(&victim, &linked).unwrap();
    let planted = std::fs::read_to_string(&out).unwrap();
    // A checkpoint of this very export (its run id is a digest of the customers and the
    // format), vouching for the victim's 4 bytes.
    let run = &common::sha256_hex(&format!("{customer}\u{0}Ndjson"))[..16];
    let checkpoint = format!(
        r#"{{"run":"{run}","customers":["{customer}"],"customer":0,"section":"grants","cursor":null,"bytes":4,
            "summary":{{"grants":0,"ledger_entries":0,"balances":0}}}}"#
    );
    std::fs::write(beside(&linked, ".checkpoint"), checkpoint).unwrap();
    let refused = export::export(&gateway, &request(&linked, true), &Silent)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(!planted.is_empty());

    // A dangling link as the output: refused as existing, and nothing created at its target.
    let dangling = out_path("dangling.ndjson");
    let nowhere = out_path("nowhere.ndjson");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    let refused = export::export(&gateway, &request(&dangling, false), &Silent)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("exists"), "{refused}");
    assert!(!nowhere.exists());
    for path in [
        &out,
        &temp,
        &linked,
        &beside(&linked, ".checkpoint"),
        &dangling,
        &victim,
    ] {
        let _ = std::fs::remove_file(path);
    }
}
