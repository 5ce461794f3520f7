//! The simulators driven by the vendors' own SDKs (`tests/sdk/*.py`: Stripe's `stripe` 16,
//! Metronome's `metronome-sdk` 4.12, Togai's `togai-client` 1.0), so a simulator that drifts
//! from what the vendor's SDK expects fails here rather than in a user's hands. `scripts/install-sdks.sh` (run by
//! `scripts/test.sh`) installs the SDKs into `target/python-sdks`.

use std::path::PathBuf;

use creditgate_sim::demo::Demo;
use creditgate_sim::{RateLimit, SimOptions, Vendor};

fn sdks() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/python-sdks");
    assert!(
        dir.join(".installed").is_file(),
        "the vendors' SDKs are not installed: run `bash scripts/test.sh` (or scripts/install-sdks.sh)"
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_metronome_and_togai_simulators_answer_as_the_official_sdks_expect() {
    let sdks = sdks();
    let demo = Demo::start(&SimOptions {
        rate_limit: RateLimit::Off,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    for (vendor, script) in [
        (Vendor::Stripe, "stripe_sdk.py"),
        (Vendor::Metronome, "metronome_sdk.py"),
    ] {
        let (simulator, running) = demo.simulators.iter().find(|(s, _)| s.vendor() == vendor).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(script);
        let mut command = std::process::Command::new("python3");
        command
            .arg(&script)
            .args([
                running.base_url(),
                simulator.credential().to_owned(),
                simulator.customer_id(0),
            ])
            .env("PYTHONPATH", &sdks)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{vendor}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
