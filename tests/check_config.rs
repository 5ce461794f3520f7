//! `creditgate check-config` on the shipped example and on configs people get wrong: each
//! problem named by its key, all of them in one run, secrets read next to the config.

mod common;

use common::process::*;

#[test]
fn check_config_accepts_the_example() {
    let out = creditgate()
        .args(["check-config", "--config", "creditgate.example.toml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("provider stripe"), "{stdout}");
    assert!(stdout.contains("provider vayu"), "{stdout}");
    assert!(!stdout.contains("sk_test_cli_secret"));
}

#[test]
fn check_config_names_the_missing_secret_and_bad_keys() {
    let out = creditgate()
        .env_remove("STRIPE_API_KEY")
        .args(["check-config", "--config", "creditgate.example.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("providers.stripe.secret"), "{stderr}");
    assert!(stderr.contains("STRIPE_API_KEY is not set"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("creditgate-cli-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    std::fs::write(&dir, text.replace("unit = \"USD\"", "unit = \"USD\"\nunits = \"EUR\"")).unwrap();
    let out = creditgate()
        .args(["check-config", "--config"])
        .arg(&dir)
        .output()
        .unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("providers.vayu") && stderr.contains("units"),
        "{stderr}"
    );
}

/// `check-config` reports every problem of a config in one run: each unknown key (not only
/// serde's first), every value out of bounds, every secret that cannot be read and every
/// vendor's bad base URL, each by its key.
#[test]
fn check_config_reports_every_problem_in_one_run() {
    let example = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let dir = std::env::temp_dir().join(format!("creditgate-cli-every-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("creditgate.toml");
    let typos = example
        .replacen(
            "[providers.stripe]\n",
            "[providers.stripe]\nbase_ulr = \"https://x\"\n",
            1,
        )
        .replacen("unit = \"USD\"", "unit = \"USD\"\nunits = \"EUR\"", 1)
        + "\n[upstream]\nconect_timeout_ms = 5\n";
    // What check-config says of `text`, which it must refuse, with each of `keys` named.
    let refused = |text: String, unset: &[&str], keys: &[&str]| -> String {
        std::fs::write(&path, text).unwrap();
        let mut command = creditgate();
        for name in unset {
            command.env_remove(name);
        }
        let out = command.args(["check-config", "--config"]).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success());
        for key in keys {
            assert!(stderr.contains(&format!("config error at `{key}`")), "{key}: {stderr}");
        }
        stderr
    };
    refused(
        typos,
        &[],
        &[
            "providers.stripe.base_ulr",
            "providers.vayu.units",
            "upstream.conect_timeout_ms",
        ],
    );
    let mistakes = example.replacen(
        "[providers.stripe]\n",
        "[providers.stripe]\nbase_url = \"http://api.stripe.com\"\n",
        1,
    ) + "\n[upstream]\nattempt_timeout_ms = 0\n\n[inbound]\nburst = 0\n";
    let stderr = refused(
        mistakes,
        &["STRIPE_API_KEY", "VAYU_REFRESH_TOKEN"],
        &[
            "upstream.attempt_timeout_ms",
            "inbound.burst",
            "providers.stripe.secret",
            "providers.stripe.base_url",
            "providers.vayu.secret",
        ],
    );
    assert!(stderr.contains("5 problems"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 17, defect 6: configs that were accepted and should not be, each refused by
/// `check-config` with the key's path.
#[test]
fn check_config_refuses_unsafe_values_naming_the_key() {
    let example = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let key_entry = "[[api_keys]]\nname = \"billing-app\"\nkey_sha256 = \"4d8a8ac26f3839afda18dfdca72c48dd7c7d3969309d1e918c4d6102ec5abc0d\"\n";
    assert!(example.contains(key_entry));
    let same_key_again = key_entry.replace("billing-app", "admin-copy");
    let cases: Vec<(&str, String, Option<&str>, &str)> = vec![
        (
            "a 3-byte cursor secret",
            example.clone(),
            Some("abc"),
            "`cursor_secret`",
        ),
        (
            "two keys with one digest",
            format!("{example}\n{same_key_again}"),
            None,
            "`api_keys[1].key_sha256`",
        ),
        ("no API keys", example.replace(key_entry, ""), None, "`api_keys`"),
        (
            "a 0 ms attempt timeout",
            format!("{example}\n[upstream]\nattempt_timeout_ms = 0\n"),
            None,
            "`upstream.attempt_timeout_ms`",
        ),
        (
            "a breaker open for 0 ms",
            format!("{example}\n[upstream.breaker]\nopen_ms = 0\n"),
            None,
            "`upstream.breaker.open_ms`",
        ),
        (
            "a 500% failure rate",
            format!("{example}\n[upstream.breaker]\nfailure_rate_percent = 500\n"),
            None,
            "`upstream.breaker.failure_rate_percent`",
        ),
        (
            "an inbound rate of 0",
            format!("{example}\n[inbound]\nrequests_per_second = 0\n"),
            None,
            "`inbound.requests_per_second`",
        ),
        (
            "a store in a directory that does not exist",
            example.replace(
                "# scopes = [\"read\", \"write\"]",
                "scopes = [\"read\", \"write\"]\n[store]\npath = \"/nonexistent-creditgate-dir/store.redb\"",
            ),
            None,
            "`store.path`",
        ),
        (
            "an endpoint over plain http to another machine",
            format!("{example}\n[[webhook_endpoints]]\nurl = \"http://app.example.com/hook\"\nsecret = \"env:STRIPE_API_KEY\"\n"),
            None,
            "`webhook_endpoints[0].url`",
        ),
        (
            "an endpoint secret that is not whsec_",
            format!("{example}\n[[webhook_endpoints]]\nurl = \"https://app.example.com/hook\"\nsecret = \"env:STRIPE_API_KEY\"\n"),
            None,
            "`webhook_endpoints[0].secret`",
        ),
        (
            "a trace sample ratio above 1",
            format!("{example}\n[telemetry]\nendpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 1.5\n"),
            None,
            "`telemetry.sample_ratio`",
        ),
        (
            "trace export headers over plain http to another machine",
            format!(
                "{example}\n[telemetry]\nendpoint = \"http://collector.example.com:4318\"\nheaders = {{ \"x-api-key\" = \"env:STRIPE_API_KEY\" }}\n"
            ),
            None,
            "`telemetry.endpoint`",
        ),
        (
            "a secret read from /dev/zero",
            example.replace("secret = \"env:STRIPE_API_KEY\"", "secret = \"file:/dev/zero\""),
            None,
            "`providers.stripe.secret`",
        ),
    ];
    let path = std::env::temp_dir().join(format!("creditgate-cli-bad-{}.toml", std::process::id()));
    for (case, text, cursor_secret, key) in cases {
        std::fs::write(&path, text).unwrap();
        let mut command = creditgate();
        if let Some(secret) = cursor_secret {
            command.env("CREDITGATE_CURSOR_SECRET", secret);
        }
        let out = command.args(["check-config", "--config"]).arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: accepted");
        assert!(stderr.contains(&format!("config error at {key}")), "{case}: {stderr}");
    }
    std::fs::remove_file(&path).unwrap();
}

/// A relative `file:` secret is read next to the config, whatever the working directory,
/// and one that other users may read is taken with a warning saying so.
#[test]
fn relative_secret_files_are_next_to_the_config_and_open_ones_are_warned_about() {
    let dir = std::env::temp_dir().join(format!("creditgate-cli-relative-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = example.replace("\"env:CREDITGATE_CURSOR_SECRET\"", "\"file:cursor.secret\"");
    assert_ne!(text, example);
    std::fs::write(dir.join("gateway.toml"), text).unwrap();
    std::fs::write(dir.join("cursor.secret"), "a-cursor-secret-of-more-than-32-bytes-0123").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("cursor.secret"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = creditgate()
        .env_remove("CREDITGATE_CURSOR_SECRET")
        .current_dir(std::env::temp_dir())
        .args(["check-config", "--config"])
        .arg(dir.join("gateway.toml"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    #[cfg(unix)]
    assert!(stderr.contains("chmod 600"), "{stderr}");
}
