//! Several gateway processes sharing one real Redis (`[redis]`): one key quota over all of
//! them, one vendor pace, one set of idempotency records, invalidation that reaches every
//! replica, and the degraded mode while Redis is down. Each test starts its own
//! `redis-server` on a free port (installed by `scripts/install-redis.sh`, which
//! `scripts/test.sh` runs first) and its own `creditgate serve` processes, and stops them.

mod cluster;

use cluster::*;
use creditgate_sim::{RateLimit, Vendor};
use rust_decimal::Decimal;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_admit_one_key_at_its_quota_of_50_a_second_together() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("quota");
    let inbound = "[inbound]\nrequests_per_second = 50\nburst = 10\n";
    let c = cluster("quota", &redis, RateLimit::Off, inbound, PATIENT, 3).await;
    let run = Duration::from_secs(4);
    let started = Instant::now();
    // Six clients per replica, each sending as fast as answers come back.
    let clients = (0..18).map(|i| {
        let c = &c;
        async move {
            let (mut admitted, mut refused) = (0u32, 0u32);
            while started.elapsed() < run {
                let answer = c.get(i % 3, "/v1/providers").await;
                match answer.status {
                    200 => admitted += 1,
                    429 => {
                        assert_eq!(answer.code(), "rate_limited");
                        assert!(answer.headers.contains_key("retry-after"));
                        assert_eq!(answer.headers["ratelimit-limit"], "10");
                        refused += 1;
                    }
                    other => panic!("unexpected {other}: {}", answer.body),
                }
            }
            (admitted, refused)
        }
    });
    let counts = futures_util::future::join_all(clients).await;
    let elapsed = started.elapsed().as_secs_f64();
    let admitted: u32 = counts.iter().map(|c| c.0).sum();
    let refused: u32 = counts.iter().map(|c| c.1).sum();
    // The burst of 10 once, then 50 a second over all three replicas.
    let rate = f64::from(admitted - 10) / elapsed;
    eprintln!("admitted {admitted}, refused {refused} in {elapsed:.2} s: {rate:.1}/s after the burst");
    for r in &c.replicas {
        assert!(
            !r.log().contains("redis unavailable"),
            "a replica counted alone: {}",
            r.log()
        );
    }
    assert!(
        refused > admitted,
        "the clients did push past the quota ({refused} refused)"
    );
    assert!(
        (rate - 50.0).abs() <= 2.5,
        "admitted {rate:.1}/s over three replicas, not 50/s ± 5%"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_pace_togai_together_within_its_10_a_second() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("pace");
    let c = cluster("pace", &redis, RateLimit::Vendor, "", PATIENT, 3).await;
    let togai = c.demo.simulator(Vendor::Togai);
    let path = format!("/v1/credit_grants?customer={}&limit=5", c.customer(Vendor::Togai));
    // Warm-up: each replica's first call opens its connection to Togai, which delays that
    // request after its slot by as long as the connection takes; the pace cannot know it.
    // Then a quiet second, and the simulator counts from zero.
    for replica in 0..3 {
        assert_eq!(c.get(replica, &path).await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    togai.reset_rate_counts();
    let before = togai.requests();
    let started = Instant::now();
    let clients = (0..9).map(|i| {
        let (c, path) = (&c, &path);
        async move {
            let mut served = 0;
            while started.elapsed() < Duration::from_secs(3) {
                // `no-cache`: every read goes to Togai.
                let request = c
                    .http
                    .get(format!("{}{path}", c.replicas[i % 3].base))
                    .header("cache-control", "no-cache");
                let answer = c.send(request).await;
                assert!(
                    answer.status == 200 || (answer.status == 429 && answer.code() == "rate_limited"),
                    "{}: {}",
                    answer.status,
                    answer.body
                );
                served += u32::from(answer.status == 200);
            }
            served
        }
    });
    let served: u32 = futures_util::future::join_all(clients).await.iter().sum();
    let calls = togai.requests() - before;
    eprintln!(
        "{served} reads served, {calls} Togai calls in 3 s, busiest second {}",
        togai.busiest_second()
    );
    for r in &c.replicas {
        eprintln!("replica log: {}", r.log());
    }
    assert_eq!(togai.rate_limited(), 0, "Togai answered 429");
    assert!(
        togai.busiest_second() <= 10,
        "Togai saw {} in one second",
        togai.busiest_second()
    );
    // The replicas did keep Togai busy: close to its rate, not far under it.
    assert!(calls >= 24, "only {calls} Togai calls in 3 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_idempotency_key_posted_to_two_replicas_at_once_makes_one_grant() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("idempotency");
    let c = cluster("idempotency", &redis, RateLimit::Off, "", PATIENT, 2).await;
    let sequence = c.demo.simulator(Vendor::Sequence);
    // Sequence has no idempotency of its own: only creditgate's records stand between.
    for round in 0..5 {
        let key = format!("two-replicas-{round}");
        let body = c.new_grant(Vendor::Sequence, "3.00");
        let (a, b) = tokio::join!(
            c.post(0, "/v1/credit_grants", &key, &body),
            c.post(1, "/v1/credit_grants", &key, &body)
        );
        let answers = [&a, &b];
        let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
        assert!(!ok.is_empty(), "round {round}: {} {}", a.body, b.body);
        for r in answers {
            assert!(
                r.status == 200 || (r.status == 409 && r.code() == "idempotency_key_in_use"),
                "round {round}: {} {}",
                r.status,
                r.body
            );
        }
        assert!(ok.iter().all(|r| r.body["id"] == ok[0].body["id"]));
        assert_eq!(
            sequence.written_grants(0),
            round + 1,
            "round {round}: one grant per key"
        );
        // Afterwards the key replays on either replica.
        let again = c.post(1 - round % 2, "/v1/credit_grants", &key, &body).await;
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body["id"], ok[0].body["id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_is_read_at_once_on_another() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("invalidation");
    let c = cluster("invalidation", &redis, RateLimit::Off, "", PATIENT, 2).await;
    for round in 0..5 {
        // Replica 1 caches the balance.
        let before = c.balance(1, Vendor::Stripe).await;
        assert_eq!(c.balance(1, Vendor::Stripe).await, before);
        let body = c.new_grant(Vendor::Stripe, "2.50");
        let written = c
            .post(0, "/v1/credit_grants", &format!("a-then-b-{round}"), &body)
            .await;
        assert_eq!(written.status, 200, "{}", written.body);
        // The next read on replica 1 already shows the write.
        let after = c.balance(1, Vendor::Stripe).await;
        assert_eq!(after - before, Decimal::new(250, 2), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_reads_go_on_writes_get_503_and_it_recovers_without_a_restart() {
    let _serial = one_at_a_time().await;
    let mut redis = Redis::start("outage");
    let c = cluster("outage", &redis, RateLimit::Off, "", None, 2).await;
    let sequence = c.demo.simulator(Vendor::Sequence);
    assert_eq!(c.readyz(0).await["redis"], "ok");
    let body = c.new_grant(Vendor::Sequence, "4.00");
    let first = c.post(0, "/v1/credit_grants", "before-outage", &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(sequence.written_grants(0), 1);

    redis.stop();
    // Reads: answered, each within a bounded wait for Redis.
    for replica in 0..2 {
        let started = Instant::now();
        let page = c
            .get(
                replica,
                &format!("/v1/credit_grants?customer={}", c.customer(Vendor::Stripe)),
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(c.readyz(replica).await["redis"], "degraded");
    }
    // Writes: refused before any vendor call, new key or replayed one alike.
    for (replica, key) in [(0, "during-outage"), (1, "before-outage")] {
        let refused = c.post(replica, "/v1/credit_grants", key, &body).await;
        assert_eq!(refused.status, 503, "{}", refused.body);
        assert_eq!(refused.code(), "idempotency_store_unavailable");
    }
    assert_eq!(sequence.written_grants(0), 1, "nothing written while Redis was down");
    let metrics = c.get(0, "/metrics").await.body;
    assert!(
        metrics.as_str().unwrap().contains("creditgate_redis_degraded 1"),
        "{metrics}"
    );
    assert!(
        c.replicas[0].log().contains("redis unavailable"),
        "{}",
        c.replicas[0].log()
    );

    redis.resume();
    // Back to normal within seconds, without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    let written = loop {
        let answer = c.post(1, "/v1/credit_grants", "during-outage", &body).await;
        if answer.status == 200 {
            break answer;
        }
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(
            Instant::now() < deadline,
            "writes still refused 10 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sequence.written_grants(0), 2);
    for replica in 0..2 {
        // The records survived the Redis restart: the first write replays, on either replica.
        let again = c.post(replica, "/v1/credit_grants", "before-outage", &body).await;
        assert_eq!(again.headers["idempotent-replayed"], "true", "{}", again.body);
        assert_eq!(again.body["id"], first.body["id"]);
        let again = c.post(replica, "/v1/credit_grants", "during-outage", &body).await;
        assert_eq!(again.body["id"], written.body["id"]);
        assert_eq!(c.readyz(replica).await["redis"], "ok");
    }
    assert_eq!(sequence.written_grants(0), 2, "nothing written twice");
}

/// The console's sign-out is kept in Redis: a session signed out on one replica is refused
/// on the other, and while Redis does not answer a session is not taken on trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_signed_out_on_one_replica_is_refused_on_the_other() {
    let _serial = one_at_a_time().await;
    let mut redis = Redis::start("sign-out");
    let c = cluster("sign-out", &redis, RateLimit::Off, "", PATIENT, 2).await;
    let browser = Cluster::browser();
    let page = |replica: usize, session: &str| {
        browser
            .get(format!("{}/console/providers", c.replicas[replica].base))
            .header("cookie", session.to_owned())
            .send()
    };
    let session = c.console_sign_in(0).await;
    let other = c.console_sign_in(0).await;
    let on_1 = page(1, &session).await.unwrap();
    assert_eq!(
        on_1.status(),
        200,
        "a session signed in on one replica is taken by the other"
    );
    let csrf = form_field(&on_1.text().await.unwrap(), "csrf");
    let out = c
        .console_post(0, "/console/sign-out", &session, &format!("csrf={csrf}"))
        .await;
    assert_eq!(out.status(), 303);
    let refused = page(1, &session).await.unwrap();
    assert_eq!(refused.status(), 303, "signed out on replica 0");
    assert!(refused.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/console/sign-in?"));
    assert_eq!(
        page(1, &other).await.unwrap().status(),
        200,
        "the other sign-in goes on"
    );

    redis.stop();
    let unchecked = page(1, &other).await.unwrap();
    assert_eq!(unchecked.status(), 503, "not taken on trust while Redis is down");
    assert!(unchecked.text().await.unwrap().contains("Sessions unavailable"));
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while page(1, &other).await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the session still refused 10 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        page(0, &session).await.unwrap().status(),
        303,
        "kept across Redis's restart"
    );
}

/// Through Redis, on two replicas: twenty concurrent Vayu credits of one amount under
/// twenty keys take turns per customer and answer twenty different entries; and a Sequence
/// grant the vendor applies after the attempt timed out on one replica is not written again
/// by a retry on the other, which is told to come back until the write can no longer land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_take_turns_on_vayu_and_let_an_unknown_outcome_settle() {
    let _serial = one_at_a_time().await;
    let redis = Redis::start("turns");
    let settle = "[upstream]\nattempt_timeout_ms = 500\nwrite_settle_ms = { vayu = 1500, sequence = 1500 }\n";
    let c = cluster("turns", &redis, RateLimit::Off, settle, PATIENT, 2).await;
    let vayu = c.demo.simulator(Vendor::Vayu);
    let before = vayu.written_grants(0);
    let credit = json!({"customer": c.customer(Vendor::Vayu), "amount": {"value": "5.00", "unit": "USD"},
                        "direction": "credit"});
    let writes = (0..20).map(|i| {
        let (c, credit) = (&c, &credit);
        async move {
            c.post(i % 2, "/v1/credit_ledger_entries", &format!("turn-{i}"), credit)
                .await
        }
    });
    let answers = futures_util::future::join_all(writes).await;
    let mut entries = std::collections::BTreeSet::new();
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        entries.insert(a.body["entry"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(entries.len(), 20, "each write answers its own entry");
    assert_eq!(vayu.written_grants(0), before + 20);

    let sequence = c.demo.simulator(Vendor::Sequence);
    let before = sequence.written_grants(0);
    sequence.delay_next_writes(1, Duration::from_millis(1000));
    let body = c.new_grant(Vendor::Sequence, "4.00");
    let first = c.post(0, "/v1/credit_grants", "late-on-a", &body).await;
    assert_eq!(
        (first.status, first.code()),
        (502, "upstream_outcome_unknown"),
        "{}",
        first.body
    );
    let early = c.post(1, "/v1/credit_grants", "late-on-a", &body).await;
    assert_eq!(
        (early.status, early.code()),
        (409, "write_outcome_settling"),
        "{}",
        early.body
    );
    let wait: u64 = early.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(sequence.written_grants(0), before + 1, "the late write landed");
    let after = c.post(1, "/v1/credit_grants", "late-on-a", &body).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(sequence.written_grants(0), before + 1, "not written twice");
}

/// Read-after-write across replicas does not rest on Redis's pub/sub being quick: a replica
/// whose subscriber applies invalidations late still catches up (or drops its whole cache)
/// before it serves a request sent after the write answered, although it reads the
/// invalidation number only every few milliseconds, not on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_invalidations_arrive_late_catches_up_before_serving_after_a_write() {
    use creditgate::model::ProviderKind;
    use creditgate::shared::invalidation::Invalidated;
    use creditgate::shared::{RedisConfig, SharedState};
    use std::sync::{Arc, Mutex};

    let _serial = one_at_a_time().await;
    let redis = Redis::start("freshness");
    let dir = TempDir::new("freshness");
    let url = dir.0.join("url");
    std::fs::write(&url, redis.url()).unwrap();
    let config = RedisConfig {
        url: creditgate::secret::SecretRef::File(url),
        timeout_ms: 50,
        key_prefix: "freshness".into(),
    };
    let (writer, reader) = (SharedState::new(&config).unwrap(), SharedState::new(&config).unwrap());
    // The reader's caches: what was dropped, once dropped. Its subscriber is slow: a
    // customer's invalidation takes 300 ms to apply.
    let dropped: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&dropped);
    reader.subscribe_invalidations(Arc::new(move |what| {
        match what {
            Invalidated::Customer { customer, .. } => {
                std::thread::sleep(Duration::from_millis(300));
                log.lock().unwrap().push(customer);
            }
            Invalidated::Everything => log.lock().unwrap().push("everything".into()),
            Invalidated::Nothing => {}
        }
        true
    }));
    for round in 0..5 {
        // Requests keep coming to the reader: its poller reads the number, its caches are fresh.
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            reader.ensure_fresh().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        dropped.lock().unwrap().clear();
        // A write: its invalidation published, then the wait before it answers.
        writer
            .publish_invalidation(ProviderKind::Stripe, &format!("cus_{round}"))
            .await
            .unwrap();
        writer.until_replicas_read_invalidations().await;
        // The write has answered; a request reaches the reader.
        reader.ensure_fresh().await;
        let seen = dropped.lock().unwrap().clone();
        assert!(
            seen.iter().any(|d| d == "everything" || *d == format!("cus_{round}")),
            "round {round}: the reader would serve its cache from before the write ({seen:?})"
        );
        // Let the slow subscriber finish before the next round.
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
}
