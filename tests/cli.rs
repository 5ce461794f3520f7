//! The `creditgate` binary: check-config on the shipped example, errors naming the key,
//! and `serve` answering on a real socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn creditgate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_creditgate"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CREDITGATE_CURSOR_SECRET", "cli-test-cursor-secret")
        .env("STRIPE_API_KEY", "sk_test_cli_secret")
        .env("VAYU_REFRESH_TOKEN", "vayu-cli-secret")
        .env("CREDITGATE_LOG", "warn");
    command
}

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
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(rest) = line.trim().strip_prefix("creditgate listening on http://") {
            break rest.to_owned();
        }
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /v1/credit_balances?customer=vayu:nothex HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cg_example_key_change_me\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("\"param\":\"customer\""), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id:"), "{response}");
}
