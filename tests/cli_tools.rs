//! The tool commands of the `creditgate` binary as a user runs them: export, migrate plan
//! and apply, reconcile, their exit codes and what they leave on disk.

mod common;

use common::process::*;

/// The tool commands as a user runs them (issue 15): against the demo's simulators and
/// the config it writes, each command's exit code and what it leaves on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_commands_exit_as_documented() {
    use creditgate_sim::demo::Demo;
    use creditgate_sim::{RateLimit, SimOptions, Vendor};

    let demo = Demo::start(&SimOptions {
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let config = demo.write_config("127.0.0.1:0", None).unwrap();
    let from = format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(0));
    let to = format!("togai:{}", demo.simulator(Vendor::Togai).customer_id(0));
    let dir = demo.dir().to_owned();
    let run = move |args: Vec<String>| {
        let out = creditgate().args(&args).arg("--config").arg(&config).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let run = std::sync::Arc::new(run);
    let call = |args: &[&str]| {
        let run = run.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || run(args))
    };
    let path = |name: &str| dir.join(name).display().to_string();

    // export: written; the same path again refused as a usage error (2), the file untouched.
    let export = path("credits.ndjson");
    let (code, out, err) = call(&["export", "--customer", &from, "--out", &export]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let written = std::fs::read(&export).unwrap();
    assert!(!written.is_empty());
    let (code, _, err) = call(&["export", "--customer", &from, "--out", &export]).await.unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read(&export).unwrap(), written);

    // A plan's --out that is a dangling link: refused, nothing created where it points.
    let (nowhere, link) = (path("nowhere.json"), path("linked-plan.json"));
    std::os::unix::fs::symlink(&nowhere, &link).unwrap();
    let (code, _, err) = call(&["migrate", "plan", "--from", &from, "--to", &to, "--out", &link])
        .await
        .unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("exists"), "{err}");
    assert!(!std::path::Path::new(&nowhere).exists());

    // A source that is the target, or an alias over several vendors (the target's among
    // them): refused as usage errors, no plan written.
    for (source, target) in [(to.as_str(), to.as_str()), ("acme", to.as_str())] {
        let refused = path("refused.json");
        let (code, _, err) = call(&["migrate", "plan", "--from", source, "--to", target, "--out", &refused])
            .await
            .unwrap();
        assert_eq!(code, Some(2), "{source} → {target}: {err}");
        assert!(
            err.contains("same customer") || err.contains("several providers"),
            "{err}"
        );
        assert!(!std::path::Path::new(&refused).exists());
    }

    // plan, apply, reconcile: 0, 0, 0.
    let plan = path("plan.json");
    let (code, out, err) = call(&["migrate", "plan", "--from", &from, "--to", &to, "--out", &plan])
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("grants to create"), "{out}");
    let (code, out, err) = call(&["migrate", "apply", &plan]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = call(&["reconcile", "--from", &from, "--to", &to]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0 differences"), "{out}");

    // The plan's records lost (or expired): a rerun finds every item at the target by its
    // source id, and creates nothing.
    let togai = demo.simulator(Vendor::Togai);
    let made = togai.written_grants(0);
    std::fs::remove_file(format!("{plan}.redb")).unwrap();
    let (code, out, err) = call(&["migrate", "apply", &plan]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("apply: 0 created"), "{out}");
    assert_eq!(togai.written_grants(0), made);

    // Planning back from the target skips what was migrated there (exit 0, nothing to do).
    let back = path("back.json");
    let (code, out, err) = call(&["migrate", "plan", "--from", &to, "--to", &from, "--out", &back])
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("was migrated from"), "{out}");

    // A plan edited by hand: refused as a usage error, nothing created.
    let mut edited: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    edited["items"][0]["create"]["amount"]["value"] = "1000000".into();
    let bad = path("edited.json");
    std::fs::write(&bad, edited.to_string()).unwrap();
    let (code, _, err) = call(&["migrate", "apply", &bad]).await.unwrap();
    assert_eq!(code, Some(2));
    assert!(err.contains("does not match its content"), "{err}");
    assert_eq!(togai.written_grants(0), made);

    // The source voided: the pair reconcile reports the moved amount (exit 1); the plan's
    // reconcile checks the finished state and agrees (exit 0).
    let (code, out, err) = call(&["migrate", "apply", &plan, "--void-source"]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, _) = call(&["reconcile", "--from", &from, "--to", &to, "--json"])
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["differences"].as_array().unwrap().len(), 1, "{out}");
    let (code, out, err) = call(&["reconcile", "--plan", &plan]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("0 differences"), "{out}");

    // A chain: the migrated Togai grants on to Sequence (asked for explicitly); each
    // Sequence grant names its immediate source last, and reconcile matches it.
    let sequence = format!("sequence:{}", demo.simulator(Vendor::Sequence).customer_id(0));
    let chain = path("chain.json");
    let (code, out, err) = call(&[
        "migrate",
        "plan",
        "--from",
        &to,
        "--to",
        &sequence,
        "--out",
        &chain,
        "--include-migrated",
        "--unit-map",
        "USD=GBP",
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("grants to create"), "{out}");
    let (code, out, err) = call(&["migrate", "apply", &chain]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = call(&["reconcile", "--from", &to, "--to", &sequence, "--unit-map", "USD=GBP"])
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");

    // Voiding at Sequence deletes a grant and its history: apply exports the customer first.
    let undo = path("undo.json");
    let (code, out, err) = call(&[
        "migrate",
        "plan",
        "--from",
        &sequence,
        "--to",
        &to,
        "--out",
        &undo,
        "--include-migrated",
        "--unit-map",
        "GBP=USD",
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = call(&["migrate", "apply", &undo, "--void-source"]).await.unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let history = std::fs::read_to_string(format!("{undo}.history.ndjson")).unwrap();
    assert!(out.contains(".history.ndjson"), "{out}");
    let plan_items: serde_json::Value = serde_json::from_slice(&std::fs::read(&undo).unwrap()).unwrap();
    for item in plan_items["items"].as_array().unwrap() {
        let grant = item["source_grant"].as_str().unwrap();
        assert!(history.contains(grant), "{grant} is not in the history kept");
    }
}

/// `check-config --probe` reads once at every vendor with its credential: all pass over
/// the simulators; a wrong Stripe key fails at Stripe alone, named, and the exit is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_probe_reads_once_at_every_vendor_and_names_a_wrong_credential() {
    use creditgate_sim::demo::Demo;
    use creditgate_sim::{RateLimit, SimOptions};

    let demo = Demo::start(&SimOptions {
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let config = demo.write_config("127.0.0.1:0", None).unwrap();
    let probe = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            let out = creditgate()
                .args(["check-config", "--probe", "--config"])
                .arg(&config)
                .output()
                .unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
        })
    };
    let (code, out) = probe(config.clone()).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    for provider in creditgate::model::ProviderKind::ALL {
        assert!(out.contains(&format!("probe {provider}: ok")), "{provider}: {out}");
        assert!(out.contains(&format!("provider {provider}")), "{out}");
    }
    assert!(out.contains("1 may write") && out.contains("idempotency.redb"), "{out}");
    let wrong_key = demo.dir().join("wrong-stripe.secret");
    std::fs::write(&wrong_key, "sk_test_not_the_simulators").unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let stripe_secret = format!("file:{}", demo.dir().join("stripe.secret").display());
    assert!(text.contains(&stripe_secret));
    let wrong = demo.dir().join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replace(&stripe_secret, &format!("file:{}", wrong_key.display())),
    )
    .unwrap();
    let (code, out) = probe(wrong).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("probe stripe: FAILED, upstream_auth_failed"), "{out}");
    assert!(out.contains("probe togai: ok"), "only Stripe fails: {out}");
}
