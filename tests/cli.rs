//! The `creditgate` binary: `serve` answering on a real socket (its config, its logs, the
//! demo, an outbound proxy), `migrate apply` killed at any instant, and `listen`.

mod common;

use std::process::Stdio;

use common::process::*;

/// Runs `serve` (its arguments already on `command`) on a free port, sends it one GET for
/// `path` with the example config's key, stops it; the whole answer.
fn serve_and_get(command: &mut std::process::Command, path: &str) -> String {
    let mut child = KillOnDrop(
        command
            .env("CREDITGATE_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = first_line_after(child.stderr.take().unwrap(), "creditgate listening on http://");
    let response = http_get(&addr, path, "Authorization: Bearer cg_example_key_change_me");
    child.kill().unwrap();
    child.wait().unwrap();
    response
}

/// `creditgate.example.toml` with Stripe at `base_url`, written to a file of its own for
/// the test named `test`; the caller removes it.
fn example_config_with_stripe_at(base_url: &str, test: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("creditgate-cli-{test}-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(format!("{}/creditgate.example.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let text = text.replacen(
        "[providers.stripe]\n",
        &format!("[providers.stripe]\nbase_url = \"{base_url}\"\n"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_answers_on_a_socket() {
    let response = serve_and_get(
        creditgate().args(["serve", "--config", "creditgate.example.toml"]),
        "/v1/credit_balances?customer=vayu:nothex",
    );
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("\"param\":\"customer\""), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id:"), "{response}");
}

/// A stderr nobody reads does not hold up answers: 1,500 request lines (about 250 KB,
/// four times what a pipe holds) are queued while the pipe is full, and every one is
/// written once it is read again.
#[test]
fn answers_do_not_wait_for_a_stderr_nobody_reads() {
    use std::io::{BufRead, BufReader, Read, Write};
    const REQUESTS: usize = 1_500;
    let mut child = KillOnDrop(
        creditgate()
            .args(["serve", "--config", "creditgate.example.toml"])
            .env("CREDITGATE_LISTEN", "127.0.0.1:0")
            .env("CREDITGATE_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = first_line_after(&mut stderr, "creditgate listening on http://");
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("no answer to {path} while stderr is full: {e}"));
        response
    };
    for _ in 0..REQUESTS {
        let response = get("/v1/credit_balances?customer=vayu:nothex");
        assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    }
    let metrics = get("/metrics");
    assert!(
        metrics.contains("\ncreditgate_log_lines_dropped_total 0\n"),
        "{metrics}"
    );
    let (done, written) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = stderr.lines().map_while(Result::ok);
        let count = lines
            .filter(|line| line.contains("route=\"/v1/credit_balances\""))
            .take(REQUESTS)
            .count();
        let _ = done.send(count);
    });
    let written = written.recv_timeout(std::time::Duration::from_secs(30));
    assert_eq!(written, Ok(REQUESTS), "the request lines written once stderr is read");
}

/// The README's first command: `serve --demo` prints where its console is, and a curl line
/// whose answer holds real balances from every simulated vendor.
#[test]
fn serve_demo_prints_a_curl_line_that_answers_from_every_vendor() {
    let mut child = KillOnDrop(
        creditgate()
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut next_after = |prefix: &str| {
        lines
            .by_ref()
            .map(Result::unwrap)
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no line starting {prefix}"))
    };
    // The banner says where the console is; it answers there with its sign-in form.
    let console = next_after("Console: http://");
    let (console_addr, console_path) = console.split_once(' ').unwrap().0.split_at(console.find('/').unwrap());
    let sign_in = http_get(console_addr, console_path, "");
    assert!(sign_in.starts_with("HTTP/1.1 303"), "{sign_in}");
    assert!(sign_in.contains("location: /console/sign-in"), "{sign_in}");
    let curl = format!("curl {}", next_after("curl "));
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
        let mut child = KillOnDrop(apply().spawn().unwrap());
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
    // Nothing listens on port 9 here: Stripe is unreachable at once.
    let path = example_config_with_stripe_at("http://127.0.0.1:9", "env");
    let mut child = KillOnDrop(
        creditgate()
            .env("CREDITGATE_CONFIG", &path)
            .env_remove("CREDITGATE_LISTEN")
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
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

/// Vendor calls go through the proxy the standard variables name (`HTTP_PROXY` here; README
/// "Connections" lists them), even to a local base URL unless `NO_PROXY` exempts it: the
/// proxy gets the vendor request in absolute form.
#[test]
fn vendor_calls_go_through_the_proxy_the_environment_names() {
    use std::io::{BufRead, Write};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let (seen, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = std::io::BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let _ = seen.send(line.trim_end().to_owned());
            let _ = (&stream)
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    // Nothing listens on port 9: without the proxy, the call would fail to connect.
    let path = example_config_with_stripe_at("http://127.0.0.1:9", "proxy");
    let mut command = creditgate();
    for name in ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "REQUEST_METHOD"] {
        command.env_remove(name);
    }
    let proxy_url = format!("http://{proxy_addr}");
    let response = serve_and_get(
        command
            .env("HTTP_PROXY", &proxy_url)
            .env("http_proxy", &proxy_url)
            .args(["serve", "--config"])
            .arg(&path),
        "/v1/credit_balances?customer=stripe:cus_123",
    );
    std::fs::remove_file(&path).unwrap();
    // The proxy's 503 is taken as Stripe's answer (unproxied, the call would not connect).
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert!(response.contains("stripe answered with HTTP 503"), "{response}");
    let first = requests.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    assert!(
        first.starts_with("GET http://127.0.0.1:9/v1/billing/credit_balance_summary?customer=cus_123"),
        "{first}"
    );
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
    let mut child = KillOnDrop(
        creditgate()
            .args(["listen", "--listen", "127.0.0.1:0", "--secret"])
            .arg(format!("file:{}", secret_file.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
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
