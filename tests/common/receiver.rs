//! A webhook endpoint for the event tests: it checks every delivery's Standard Webhooks
//! signature with the `standardwebhooks` crate (an implementation creditgate did not
//! write), keeps what it accepted, and can be told to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// A secret in the `whsec_` form (32 bytes).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA=";

#[derive(Clone, Default)]
struct State {
    /// Accepted deliveries: (webhook-id, event).
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
    /// The webhook-id of every attempt, accepted or not.
    attempts: Arc<Mutex<Vec<String>>>,
    /// Deliveries whose signature did not verify.
    forged: Arc<Mutex<usize>>,
    failing: Arc<AtomicBool>,
}

pub struct Receiver {
    pub url: String,
    state: State,
    _server: tokio::task::JoinHandle<()>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.attempts.lock().unwrap().push(id.clone());
    let verifier = standardwebhooks::Webhook::new(SECRET).unwrap();
    if verifier.verify(&body, &headers).is_err() {
        *state.forged.lock().unwrap() += 1;
        return StatusCode::BAD_REQUEST;
    }
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    state.accepted.lock().unwrap().push((id, event));
    StatusCode::NO_CONTENT
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = State::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            state,
            _server: server,
        }
    }

    /// The config lines of an endpoint at this receiver, its secret in `dir`.
    pub fn endpoint_toml(&self, dir: &std::path::Path, extra: &str) -> String {
        let path = dir.join("endpoint.whsec");
        std::fs::write(&path, SECRET).unwrap();
        format!(
            "\n[[webhook_endpoints]]\nurl = \"{}\"\nsecret = \"file:{}\"\n{extra}\n",
            self.url,
            path.display()
        )
    }

    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// Every event accepted so far, with its webhook-id.
    pub fn accepted(&self) -> Vec<(String, Value)> {
        self.state.accepted.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> Vec<String> {
        self.state.attempts.lock().unwrap().clone()
    }

    pub fn forged(&self) -> usize {
        *self.state.forged.lock().unwrap()
    }

    /// The first accepted event `matches` takes, waiting up to `within`.
    pub async fn wait_for(&self, within: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let started = Instant::now();
        loop {
            if let Some((_, event)) = self.accepted().into_iter().find(|(_, e)| matches(e)) {
                return Some(event);
            }
            if started.elapsed() > within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
