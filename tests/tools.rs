//! The tool commands' library side over the vendor simulators: `export` writes exactly the
//! simulator's book, and an interrupted export resumes without losing or repeating a line.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use creditgate::export::{self, Customers, ExportRequest, Format, Silent};
use creditgate::{Config, Gateway};
use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions, Vendor};
use rust_decimal::Decimal;
use serde_json::Value;

async fn demo(entries: usize) -> (Demo, Gateway) {
    let options = SimOptions {
        seed: 21,
        customers: 3,
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
