//! Running the `creditgate` binary in the CLI tests: the command with a test environment,
//! a raw GET, and reading what it prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;

pub fn creditgate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_creditgate"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CREDITGATE_CURSOR_SECRET", "cli-test-cursor-secret-0123456789abcdef")
        .env("STRIPE_API_KEY", "sk_test_cli_secret")
        .env("VAYU_REFRESH_TOKEN", "vayu-cli-secret")
        .env("CREDITGATE_LOG", "warn");
    command
}

/// A child process killed when dropped, so that a failing test leaves none running; it is
/// used as the `Child` it holds.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A raw HTTP/1.1 GET; the whole response as text.
pub fn http_get(addr: &str, path: &str, header: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{header}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The rest of the first line (trimmed) that starts with `prefix`.
pub fn first_line_after(output: impl Read, prefix: &str) -> String {
    for line in BufReader::new(output).lines() {
        if let Some(rest) = line.unwrap().trim().strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    panic!("the process ended before printing a line starting with {prefix:?}");
}
