//! What the event tests share: a world whose gateway delivers to a test receiver, and a
//! credit written at any vendor.

use std::time::Duration;

use creditgate_sim::demo::DEMO_API_KEY;
use creditgate_sim::Vendor;
use serde_json::{json, Value};

use super::receiver::Receiver;
use super::world::World;

/// Fast retries, so that a receiver coming back is reached within a second.
pub const FAST_RETRIES: &str =
    "\n[events]\nfirst_retry_ms = 100\nmax_retry_interval_ms = 300\nattempt_timeout_ms = 2000\n";

/// How long an event may take from its cause to the receiver.
pub const WITHIN: Duration = Duration::from_secs(2);

pub async fn world_with_receiver(endpoint_extra: &str) -> (World, Receiver, creditgate::Gateway) {
    let mut w = World::start(21, 2, 4, None).await;
    let receiver = Receiver::start().await;
    let extra = format!("{FAST_RETRIES}{}", receiver.endpoint_toml(w.demo.dir(), endpoint_extra));
    let gateway = w.with_events(&extra);
    (w, receiver, gateway)
}

/// Credits for customer 0 of `vendor`: a grant where it makes grants, else a ledger credit.
/// Answers the path written to and the answer.
pub async fn credit(w: &World, vendor: Vendor, key: &str, value: &str) -> (String, Value) {
    let unit = if vendor == Vendor::Sequence { "GBP" } else { "USD" };
    let customer = w.customer(vendor, 0);
    let grants = w.capabilities(vendor).await["create_grants"] == true;
    let (path, body) = if grants {
        let mut grant = json!({"customer": customer, "amount": {"value": value, "unit": unit},
                               "name": "Event credits", "expires_at": "2031-01-01T00:00:00Z"});
        if vendor == Vendor::Metronome {
            grant["priority"] = json!("1");
        }
        ("/v1/credit_grants", grant)
    } else {
        (
            "/v1/credit_ledger_entries",
            json!({"customer": customer, "amount": {"value": value, "unit": unit}, "direction": "credit"}),
        )
    };
    let answer = w.api.post_as(path, DEMO_API_KEY, Some(key), &body.to_string()).await;
    assert_eq!(answer.status, 200, "{vendor}: {}", answer.body);
    (path.to_owned(), answer.body)
}
