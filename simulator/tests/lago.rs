//! Lago's simulator on its own, over HTTP: page numbers and their `meta`, newest first, the
//! `status` filter, a wallet `code` that cannot be taken twice while its wallet is active,
//! voided credits and a termination that writes no transaction.

use std::net::SocketAddr;

use creditgate_sim::{Faults, RateLimit, RunningSimulator, SimOptions, Simulator, Vendor};
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};

struct Lago {
    sim: Simulator,
    server: RunningSimulator,
    http: Client,
}

impl Lago {
    async fn start() -> Lago {
        let options = SimOptions {
            seed: 5,
            customers: 2,
            entries_per_customer: 25,
            grants_per_customer: Some(2),
            rate_limit: RateLimit::Off,
            faults: Faults::default(),
        };
        let sim = Simulator::new(Vendor::Lago, options);
        let server = sim.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        Lago {
            sim,
            server,
            http: Client::new(),
        }
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(self.sim.credential())
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        let response = self.authed(request).send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}/api/v1{path}", self.server.base_url())))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/api/v1{path}", self.server.base_url()))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request).await
    }
}

#[tokio::test]
async fn pages_are_numbered_newest_first_with_lagos_meta() {
    let lago = Lago::start().await;
    let c = lago.sim.customer_id(0);
    let (_, first) = lago.get(&format!("/wallets?external_customer_id={c}&per_page=1")).await;
    assert_eq!(first["meta"]["current_page"], 1);
    assert_eq!(first["meta"]["next_page"], 2);
    assert_eq!(first["meta"]["prev_page"], Value::Null);
    assert_eq!(
        (
            first["meta"]["total_count"].as_u64(),
            first["meta"]["total_pages"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let (_, second) = lago
        .get(&format!("/wallets?external_customer_id={c}&per_page=1&page=2"))
        .await;
    assert_eq!(second["meta"]["next_page"], Value::Null);
    let newer = first["wallets"][0]["created_at"].as_str().unwrap().to_owned();
    assert!(newer.as_str() > second["wallets"][0]["created_at"].as_str().unwrap());
    // Past the end: no items, the count still said.
    let (_, past) = lago
        .get(&format!("/wallets?external_customer_id={c}&per_page=1&page=9"))
        .await;
    assert_eq!(
        (
            past["wallets"].as_array().unwrap().len(),
            past["meta"]["total_count"].as_u64()
        ),
        (0, Some(2))
    );
    let (status, missing) = lago.get("/wallets?external_customer_id=nobody").await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("customer_not_found")));
}

#[tokio::test]
async fn the_first_wallet_holds_a_pending_purchase_the_status_filter_leaves_out() {
    let lago = Lago::start().await;
    let c = lago.sim.customer_id(0);
    let (_, wallets) = lago.get(&format!("/wallets?external_customer_id={c}")).await;
    let oldest = wallets["wallets"][1]["lago_id"].as_str().unwrap().to_owned();
    let (_, all) = lago.get(&format!("/wallets/{oldest}/wallet_transactions")).await;
    let (_, settled) = lago
        .get(&format!("/wallets/{oldest}/wallet_transactions?status=settled"))
        .await;
    let all = all["wallet_transactions"].as_array().unwrap().clone();
    let settled = settled["wallet_transactions"].as_array().unwrap().clone();
    assert_eq!(all.len(), settled.len() + 1);
    assert!(all
        .iter()
        .any(|t| t["status"] == "pending" && t["transaction_status"] == "purchased"));
    assert!(settled.iter().all(|t| t["status"] == "settled"));
}

#[tokio::test]
async fn a_code_is_taken_once_and_a_termination_writes_no_transaction() {
    let lago = Lago::start().await;
    let c = lago.sim.customer_id(1);
    let wallet = json!({"wallet": {"external_customer_id": c, "currency": "USD", "rate_amount": "0.25",
                                   "granted_credits": "10", "code": "welcome"}});
    let (status, created) = lago.post("/wallets", wallet.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["wallet"]["credits_balance"], "10");
    assert_eq!(created["wallet"]["balance_cents"], 250);
    let (status, again) = lago.post("/wallets", wallet).await;
    assert_eq!(
        (status, &again["error_details"]["code"]),
        (422, &json!(["value_already_exist"]))
    );

    let id = created["wallet"]["lago_id"].as_str().unwrap().to_owned();
    let void = json!({"wallet_transaction": {"wallet_id": id, "voided_credits": "4"}});
    let (status, voided) = lago.post("/wallet_transactions", void).await;
    assert_eq!(status, 200, "{voided}");
    assert_eq!(voided["wallet_transactions"][0]["transaction_status"], "voided");
    let (status, _) = lago
        .post(
            "/wallet_transactions",
            json!({"wallet_transaction": {"wallet_id": id, "voided_credits": "7"}}),
        )
        .await;
    assert_eq!(status, 422, "more than the wallet holds");

    let url = format!("{}/api/v1/wallets/{id}", lago.server.base_url());
    let (status, terminated) = lago.send(lago.http.delete(&url)).await;
    assert_eq!(
        (status, terminated["wallet"]["status"].as_str()),
        (200, Some("terminated"))
    );
    assert_eq!(
        terminated["wallet"]["credits_balance"], "6",
        "what is left stays, unusable"
    );
    let (_, transactions) = lago.get(&format!("/wallets/{id}/wallet_transactions")).await;
    assert_eq!(
        transactions["meta"]["total_count"], 2,
        "the grant and the void, no more"
    );
    let truth = lago.sim.truth(1);
    // What it received net of the void, in money; a terminated wallet counts in no balance.
    assert_eq!(
        truth.grants[&format!("lago:{id}")].0,
        rust_decimal::Decimal::new(150, 2)
    );
}
