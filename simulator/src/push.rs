//! Webhooks like the vendors send them: every change to a simulated customer's ledger (a
//! write through the vendor's API, simulated usage) is pushed, signed in the vendor's own
//! scheme, to a URL the test or the demo names. Only the vendors that push credit events
//! push (Stripe, Metronome, Lago; each one's `push` renders its events); Sequence, Togai and
//! Vayu push none about credits, as far as their documentation goes.
//!
//! A watcher looks at the book every [`LOOK_EVERY`] for entries it has not pushed yet, so
//! no handler has to remember to push. A delivery is tried three times, a second apart, as
//! vendors retry (only more briefly).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Simulator, Vendor};

/// How often the book is looked at for new entries.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// One delivery: its headers and body, signed.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// HMAC-SHA256 of `parts`, keyed with `secret` as UTF-8 (every vendor here does so).
pub(crate) fn hmac(secret: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Simulator {
    /// Pushes every change from now on to `url`, signed with `secret`, until the returned
    /// task is aborted (or the runtime stops). Vendors that push nothing return a task that
    /// does nothing.
    pub fn push_to(&self, url: &str, secret: &str) -> tokio::task::JoinHandle<()> {
        let (simulator, url, secret) = (self.clone(), url.to_owned(), secret.to_owned());
        tokio::spawn(async move {
            if matches!(simulator.vendor(), Vendor::Sequence | Vendor::Togai | Vendor::Vayu) {
                return;
            }
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds");
            let mut pushed: Vec<usize> = simulator.entry_counts();
            loop {
                tokio::time::sleep(LOOK_EVERY).await;
                for push in simulator.new_pushes(&mut pushed, &secret) {
                    let (client, url) = (client.clone(), url.clone());
                    tokio::spawn(async move { deliver(&client, &url, push).await });
                }
            }
        })
    }

    /// Ledger entries per customer, now.
    fn entry_counts(&self) -> Vec<usize> {
        self.state.book().customers.iter().map(|c| c.entries.len()).collect()
    }

    /// The pushes of the entries made since `pushed` (entries per customer), which it
    /// then counts.
    fn new_pushes(&self, pushed: &mut Vec<usize>, secret: &str) -> Vec<Push> {
        let book = self.state.book();
        let mut out = Vec::new();
        pushed.resize(book.customers.len(), 0);
        for (c, seen) in book.customers.iter().zip(pushed.iter_mut()) {
            for j in *seen..c.entries.len() {
                out.extend(self.state.vendor.push(self.state.seed, c, j, secret));
            }
            *seen = c.entries.len();
        }
        out
    }

    /// Usage: takes `amount` (in the unit's smallest step) from customer `index`'s first
    /// live grant with that much left, as the vendor's metering would.
    pub fn consume(&self, index: usize, amount: i64) -> Result<(), String> {
        let mut book = self.state.book_mut();
        let customer = book.customer_mut(index).ok_or_else(|| format!("no customer {index}"))?;
        customer.deduct(amount, super::now_unix()).map(|_| ())
    }

    /// A grant of `amount` (in the unit's smallest step) made at the vendor itself (its
    /// dashboard, another integration), not through creditgate.
    pub fn grant_directly(&self, index: usize, amount: i64) -> Result<(), String> {
        let mut book = self.state.book_mut();
        let customer = book.customer_mut(index).ok_or_else(|| format!("no customer {index}"))?;
        customer.add_grant(amount, true, super::book::Written::default(), super::now_unix());
        Ok(())
    }

    /// Simulated usage: every `every`, each customer with credits left consumes `amount`,
    /// until the returned task is aborted.
    pub fn start_usage(&self, every: Duration, amount: i64) -> tokio::task::JoinHandle<()> {
        let simulator = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let customers = simulator.state.book().customers.len();
                for index in 0..customers {
                    // A customer with nothing left has no usage to pay for.
                    let _ = simulator.consume(index, amount);
                }
            }
        })
    }
}

async fn deliver(client: &reqwest::Client, url: &str, push: Push) {
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(push.body.clone());
        for (name, value) in &push.headers {
            request = request.header(*name, value);
        }
        if request.send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
    }
}
