//! The `creditgate` binary: check-config on the shipped example, errors naming the key,
//! and `serve` answering on a real socket.

mod common;

use std::process::Stdio;

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

#[test]
fn serve_answers_on_a_socket() {
    let mut child = creditgate()
        .env("CREDITGATE_LISTEN", "127.0.0.1:0")
        .args(["serve", "--config", "creditgate.example.toml"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = first_line_after(child.stderr.take().unwrap(), "creditgate listening on http://");
    let response = http_get(
        &addr,
        "/v1/credit_balances?customer=vayu:nothex",
        "Authorization: Bearer cg_example_key_change_me",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("\"param\":\"customer\""), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id:"), "{response}");
}

/// The README's first command: `serve --demo` prints a curl line whose answer holds real
/// balances from every simulated vendor.
#[test]
fn serve_demo_prints_a_curl_line_that_answers_from_every_vendor() {
    let mut child = creditgate()
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let curl = format!("curl {}", first_line_after(child.stdout.take().unwrap(), "curl "));
    // curl -s -H 'Authorization: Bearer KEY' 'http://ADDR/PATH'
    let quoted: Vec<&str> = curl.split('\'').collect();
    let auth = quoted[1];
    let url = quoted[3].strip_prefix("http://").unwrap();
    let (addr, path) = url.split_at(url.find('/').unwrap());
    let response = http_get(addr, path, auth);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let providers: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["provider"].as_str().unwrap())
        .collect();
    let every: Vec<&str> = creditgate::model::ProviderKind::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    assert_eq!(providers, every, "{body}");
    let value: rust_decimal::Decimal = body["data"][0]["available"]["value"].as_str().unwrap().parse().unwrap();
    assert!(value > rust_decimal::Decimal::ZERO);
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

/// `migrate apply` killed at any instant while it creates its records (`PLAN.redb`, the same
/// open as `serve`'s `[store] path`) leaves no store or a valid one, never a file the next
/// run refuses; and a symlink in the store's place is refused, not followed.
#[test]
fn a_kill_at_any_instant_leaves_no_store_or_a_valid_one() {
    let dir = std::env::temp_dir().join(format!("creditgate-cli-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("plan.json");
    std::fs::write(
        &plan,
        r#"{"version": 1, "pairs": [], "unit_map": {}, "items": [], "unmapped": []}"#,
    )
    .unwrap();
    let store = dir.join("plan.json.redb");
    let apply = || {
        let mut command = creditgate();
        command
            .args(["migrate", "apply"])
            .arg(&plan)
            .args(["--config", "creditgate.example.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    // A whole run, timed; then kills spread over its second half, where the store is made
    // (after the config and the adapters).
    let started = std::time::Instant::now();
    assert!(apply().status().unwrap().success());
    let whole = started.elapsed();
    let mut created = 0;
    for step in 0..24u32 {
        let delay = whole / 2 + whole * step / 48;
        let _ = std::fs::remove_file(&store);
        let mut child = apply().spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if store.exists() {
            created += 1;
            creditgate::store::DiskStore::open(&store)
                .unwrap_or_else(|e| panic!("killed after {delay:?}: the store left behind is refused: {e}"));
        }
    }
    assert!(created > 0, "no run got as far as creating the store");
    // A symlink where the store goes is refused, and its target left as it was.
    let _ = std::fs::remove_file(&store);
    let victim = dir.join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, &store).unwrap();
    let out = apply().stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("idempotency store") && stderr.contains("symbolic link"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `CREDITGATE_CONFIG` names the config when `--config` is absent, `--listen` overrides its
/// address, and with `--log-format json` every line is one JSON object, the lines written
/// inside a request carrying its id (here the warning of a vendor that cannot be reached).
#[test]
fn serve_reads_its_config_from_the_environment_and_logs_json_with_request_ids() {
    use std::io::BufRead;
    let path = std::env::temp_dir().join(format!("creditgate-cli-env-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    // Nothing listens on port 9 here: Stripe is unreachable at once.
    let text = text.replacen(
        "[providers.stripe]\n",
        "[providers.stripe]\nbase_url = \"http://127.0.0.1:9\"\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let mut child = creditgate()
        .env("CREDITGATE_CONFIG", &path)
        .env_remove("CREDITGATE_LISTEN")
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let addr = loop {
        let line = received.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        if let Some(addr) = line.strip_prefix("creditgate listening on http://") {
            break addr.to_owned();
        }
    };
    assert_ne!(addr, "127.0.0.1:8080", "--listen overrides the config");
    let response = http_get(
        &addr,
        "/v1/credit_balances?customer=stripe:cus_123",
        "Authorization: Bearer cg_example_key_change_me",
    );
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let id = response
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned))
        .unwrap();
    let mut logged = Vec::new();
    while let Ok(line) = received.recv_timeout(std::time::Duration::from_secs(2)) {
        logged.push(serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|_| panic!("not JSON: {line}")));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&path).unwrap();
    let warning = logged
        .iter()
        .find(|l| l["fields"]["message"] == "request failed")
        .unwrap_or_else(|| panic!("{logged:?}"));
    assert_eq!(
        warning["span"]["request_id"].as_str().map(str::to_ascii_lowercase),
        Some(id)
    );
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

/// `creditgate listen` prints each delivery whose Standard Webhooks signature (made here
/// with the `standardwebhooks` crate) checks out, and refuses a forged one with a 400.
#[test]
fn listen_prints_each_verified_event_and_refuses_a_forged_one() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = std::env::temp_dir().join(format!("creditgate-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_file = dir.join("endpoint.whsec");
    std::fs::write(&secret_file, common::receiver::SECRET).unwrap();
    let mut child = creditgate()
        .args(["listen", "--listen", "127.0.0.1:0", "--secret"])
        .arg(format!("file:{}", secret_file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{banner}"))
        .to_owned();
    let event = r#"{"object":"event","id":"evt_01a24d42f075d3b4ed5cd26c2237","type":"credit_balance.low","created":"2026-12-06T21:29:22Z","provider":"stripe","customer":"stripe:cus_1","data":{"object":{"available":{"value":"151.89","unit":"USD"}},"alert":{"id":"alrt_1","threshold":"152.89"}},"source":{"kind":"watch"}}"#;
    let post = |signature: &str| {
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = if signature.is_empty() {
            standardwebhooks::Webhook::new(common::receiver::SECRET)
                .unwrap()
                .sign("evt_01a24d42f075d3b4ed5cd26c2237", timestamp, event.as_bytes())
                .unwrap()
        } else {
            signature.to_owned()
        };
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nwebhook-id: evt_01a24d42f075d3b4ed5cd26c2237\r\n\
             webhook-timestamp: {timestamp}\r\nwebhook-signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{event}",
            event.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let forged = post("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert!(forged.starts_with("HTTP/1.1 400"), "{forged}");
    let answered = post("");
    assert!(answered.starts_with("HTTP/1.1 204"), "{answered}");
    let line = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut errors = String::new();
    child.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
    assert!(
        line.contains("credit_balance.low") && line.contains("stripe:cus_1"),
        "{line}"
    );
    assert!(line.contains("151.89 USD below 152.89"), "{line}");
    assert!(errors.contains("refused a delivery"), "{errors}");
    let _ = std::fs::remove_dir_all(dir);
}
