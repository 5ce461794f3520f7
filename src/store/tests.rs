//! The idempotency records' semantics on disk.

use super::*;
use std::sync::Arc;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("creditgate-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("records.redb")
}

/// The path [`temp_path`] gave, without clearing it.
fn temp_path_again(name: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("creditgate-store-{}-{name}", std::process::id()))
        .join("records.redb")
}

const FRESH: Reservation = Reservation::Fresh { generation: 0 };
const A: Fingerprint = Fingerprint([1; 32]);
const NO_SETTLE: Duration = Duration::ZERO;
const B: Fingerprint = Fingerprint([2; 32]);

fn answer() -> StoredAnswer {
    StoredAnswer {
        status: 200,
        body: br#"{"id":"stripe:credgr_1"}"#.to_vec(),
    }
}

#[test]
fn a_key_is_fresh_then_in_use_then_replayed_and_never_reused_for_another_request() {
    let store = DiskStore::open(&temp_path("lifecycle")).unwrap();
    let now = SystemTime::now();
    assert_eq!(store.reserve("t", "k", A, now, NO_SETTLE).unwrap(), FRESH);
    assert_eq!(store.reserve("t", "k", A, now, NO_SETTLE).unwrap(), Reservation::InUse);
    assert_eq!(store.reserve("t", "k", B, now, NO_SETTLE).unwrap(), Reservation::Reused);
    store.complete("t", "k", &answer(), now).unwrap();
    assert_eq!(
        store.reserve("t", "k", A, now, NO_SETTLE).unwrap(),
        Reservation::Replay(answer())
    );
    assert_eq!(store.reserve("t", "k", B, now, NO_SETTLE).unwrap(), Reservation::Reused);
    // Another tenant's identical key is another record.
    assert_eq!(store.reserve("u", "k", B, now, NO_SETTLE).unwrap(), FRESH);
}

#[test]
fn records_expire_after_the_retention_and_a_released_key_is_free() {
    let store = DiskStore::open(&temp_path("expiry")).unwrap();
    let then = SystemTime::now();
    assert_eq!(store.reserve("t", "k", A, then, NO_SETTLE).unwrap(), FRESH);
    store.complete("t", "k", &answer(), then).unwrap();
    let later = then + RETENTION + Duration::from_secs(1);
    assert_eq!(store.reserve("t", "k", B, later, NO_SETTLE).unwrap(), FRESH);
    // Released: free for any request, as the next generation (a vendor key of its own);
    // an unknown outcome keeps its generation.
    store.release("t", "k", later).unwrap();
    assert_eq!(
        store.reserve("t", "k", A, later, NO_SETTLE).unwrap(),
        Reservation::Fresh { generation: 1 }
    );
    store.mark_unknown("t", "k", later).unwrap();
    let much_later = later + Duration::from_secs(5);
    assert_eq!(
        store.reserve("t", "k", A, much_later, NO_SETTLE).unwrap(),
        Reservation::OutcomeUnknown {
            since: UNIX_EPOCH + Duration::from_secs(unix(later)),
            generation: 1
        }
    );
    store.release("t", "k", much_later).unwrap();
    assert_eq!(
        store.reserve("t", "k", B, much_later, NO_SETTLE).unwrap(),
        Reservation::Fresh { generation: 2 }
    );
    assert!(store.complete("t", "other", &answer(), later).is_err());
}

#[test]
fn purging_removes_only_expired_records() {
    let store = DiskStore::open(&temp_path("purge")).unwrap();
    let then = SystemTime::now();
    for key in ["old-1", "old-2"] {
        store.reserve("t", key, A, then, NO_SETTLE).unwrap();
        store.complete("t", key, &answer(), then).unwrap();
    }
    let later = then + RETENTION + Duration::from_secs(5);
    store.reserve("t", "new", A, later, NO_SETTLE).unwrap();
    assert_eq!(store.purge(later).unwrap(), 2);
    assert_eq!(store.purge(later).unwrap(), 0);
    assert_eq!(
        store.reserve("t", "new", A, later, NO_SETTLE).unwrap(),
        Reservation::InUse
    );
}

#[test]
fn an_unknown_outcome_is_never_a_fresh_write_even_after_a_restart() {
    let path = temp_path("restart");
    let now = SystemTime::now();
    let later = now + Duration::from_secs(30);
    // Records keep whole seconds.
    let first = UNIX_EPOCH + Duration::from_secs(unix(now));
    {
        let store = DiskStore::open(&path).unwrap();
        assert_eq!(store.reserve("t", "unknown", A, now, NO_SETTLE).unwrap(), FRESH);
        store.mark_unknown("t", "unknown", now).unwrap();
        assert_eq!(
            store.reserve("t", "unknown", A, later, NO_SETTLE).unwrap(),
            Reservation::OutcomeUnknown {
                since: first,
                generation: 0
            }
        );
        // The looking attempt holds the key: a third one waits.
        assert_eq!(
            store.reserve("t", "unknown", A, later, NO_SETTLE).unwrap(),
            Reservation::InUse
        );
        // A write left in flight when the process stops.
        assert_eq!(store.reserve("t", "crashed", A, now, NO_SETTLE).unwrap(), FRESH);
        store.complete("t", "done", &answer(), now).unwrap_err();
    }
    std::thread::sleep(Duration::from_millis(2));
    let store = DiskStore::open(&path).unwrap();
    // Left in flight at `later` by the stopped process: past that (and its whole second).
    let after = later + Duration::from_secs(2);
    assert_eq!(
        store.reserve("t", "crashed", A, after, NO_SETTLE).unwrap(),
        Reservation::OutcomeUnknown {
            since: first,
            generation: 0
        }
    );
    assert_eq!(
        store.reserve("t", "unknown", A, after, NO_SETTLE).unwrap(),
        Reservation::OutcomeUnknown {
            since: first,
            generation: 0
        }
    );
}

#[test]
fn an_unknown_outcome_settles_before_anyone_looks() {
    let store = DiskStore::open(&temp_path("settle")).unwrap();
    let settle = Duration::from_secs(60);
    let now = UNIX_EPOCH + Duration::from_secs(unix(SystemTime::now()));
    let until = now + Duration::from_secs(1) + settle;
    assert_eq!(store.reserve("t", "k", A, now, settle).unwrap(), FRESH);
    store.mark_unknown("t", "k", now).unwrap();
    // Inside the window: told to come back, and the record is unchanged.
    for at in [now, now + Duration::from_secs(60)] {
        assert_eq!(
            store.reserve("t", "k", A, at, settle).unwrap(),
            Reservation::Settling { until }
        );
    }
    // Another request under the key is still refused as a reuse.
    assert_eq!(store.reserve("t", "k", B, now, settle).unwrap(), Reservation::Reused);
    // After it: the look.
    assert_eq!(
        store.reserve("t", "k", A, until, settle).unwrap(),
        Reservation::OutcomeUnknown {
            since: now,
            generation: 0
        }
    );
    // A write left in flight by a process that stopped settles from its reservation.
    assert_eq!(store.reserve("t", "crashed", A, now, settle).unwrap(), FRESH);
    drop(store);
    let store = DiskStore::open(&temp_path_again("settle")).unwrap();
    assert_eq!(
        store.reserve("t", "crashed", A, now + settle, settle).unwrap(),
        Reservation::Settling { until }
    );
    assert_eq!(
        store.reserve("t", "crashed", A, until, settle).unwrap(),
        Reservation::OutcomeUnknown {
            since: now,
            generation: 0
        }
    );
}

#[test]
fn twenty_racing_reservations_of_one_key_give_exactly_one_write() {
    let store = Arc::new(DiskStore::open(&temp_path("race")).unwrap());
    let now = SystemTime::now();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.reserve("t", "k", A, now, NO_SETTLE).unwrap())
        })
        .collect();
    let outcomes: Vec<Reservation> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == FRESH).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Reservation::InUse).count(), 19);
}

#[test]
fn a_plans_records_never_expire() {
    let path = temp_path("plan");
    let then = SystemTime::now();
    let store = DiskStore::open_keeping_everything(&path).unwrap();
    assert_eq!(store.reserve("t", "item", A, then, NO_SETTLE).unwrap(), FRESH);
    store.complete("t", "item", &answer(), then).unwrap();
    let a_year_later = then + Duration::from_secs(366 * 24 * 60 * 60);
    assert_eq!(store.purge(a_year_later).unwrap(), 0);
    assert_eq!(
        store.reserve("t", "item", A, a_year_later, NO_SETTLE).unwrap(),
        Reservation::Replay(answer())
    );
}

mod events {
    use super::*;
    use crate::model::event::event_id;
    use crate::store::NewEvent;
    use std::ops::ControlFlow;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn event(ms: u64, n: u64, customer: &str) -> NewEvent {
        let id = event_id(ms, n);
        NewEvent {
            json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
            id,
            customer: customer.to_owned(),
            source: format!("cause-{ms}-{n}"),
            deliver_to: vec!["we_1".into()],
            guard: None,
        }
    }

    fn scan(store: &DiskStore, customer: Option<&str>, before: Option<&str>) -> Vec<String> {
        let mut ids = Vec::new();
        store
            .scan_events(customer, before, |id, _| {
                ids.push(id.to_owned());
                ControlFlow::Continue(())
            })
            .unwrap();
        ids
    }

    #[test]
    fn events_list_newest_first_by_customer_and_purge_after_their_retention() {
        let store = DiskStore::open(&temp_path("events"))
            .unwrap()
            .keeping_events_for(Duration::from_secs(60));
        let now = 1_700_000_000_000;
        let events = vec![
            event(now, 1, "stripe:a"),
            event(now + 1, 2, "stripe:b"),
            event(now + 2, 3, "stripe:a"),
        ];
        assert_eq!(store.append_events(&events, at(now)).unwrap(), vec![true; 3]);
        // The same causes again: nothing new.
        assert_eq!(store.append_events(&events, at(now)).unwrap(), vec![false; 3]);
        let all = scan(&store, None, None);
        assert_eq!(
            all,
            vec![events[2].id.clone(), events[1].id.clone(), events[0].id.clone()]
        );
        assert_eq!(
            scan(&store, Some("stripe:a"), None),
            vec![events[2].id.clone(), events[0].id.clone()]
        );
        assert_eq!(
            scan(&store, Some("stripe:a"), Some(&events[2].id)),
            vec![events[0].id.clone()]
        );
        assert_eq!(scan(&store, None, Some(&events[1].id)), vec![events[0].id.clone()]);
        assert!(store.event(&events[1].id).unwrap().is_some());
        // Past the retention, events and what points at them go.
        store.purge(at(now + 61_000)).unwrap();
        assert!(scan(&store, None, None).is_empty());
        assert!(scan(&store, Some("stripe:a"), None).is_empty());
        assert_eq!(
            store.append_events(&events[..1], at(now)).unwrap(),
            vec![true],
            "its cause is forgotten too"
        );
    }

    #[test]
    fn a_claimed_item_waits_out_its_lease_and_a_settled_one_is_gone() {
        let store = DiskStore::open(&temp_path("queue")).unwrap();
        let now = 1_700_000_000_000;
        store.enqueue("q", "a", b"body-a", at(now)).unwrap();
        store.enqueue("q", "b", b"", at(now + 5)).unwrap();
        // Queued twice: still once.
        store.enqueue("q", "a", b"other", at(now)).unwrap();
        assert!(
            store
                .claim_due("q", at(now - 1), Duration::from_secs(1), 10)
                .unwrap()
                .is_empty(),
            "not due yet"
        );
        let claimed = store.claim_due("q", at(now), Duration::from_secs(1), 10).unwrap();
        assert_eq!(
            claimed,
            vec![Claimed {
                item: "a".into(),
                body: b"body-a".to_vec()
            }]
        );
        assert!(store
            .claim_due("other", at(now + 10), Duration::from_secs(1), 10)
            .unwrap()
            .is_empty());
        let due = store.claim_due("q", at(now + 10), Duration::from_secs(1), 10).unwrap();
        assert_eq!(due.len(), 1, "a is leased, b is due: {due:?}");
        // Leases run out: both are due again.
        assert_eq!(
            store
                .claim_due("q", at(now + 1_100), Duration::from_secs(1), 10)
                .unwrap()
                .len(),
            2
        );
        store.settle("q", "a", None, Some(("evt_x\u{0}we_1", b"{}"))).unwrap();
        store.settle("q", "b", Some(at(now + 5_000)), None).unwrap();
        assert!(store
            .claim_due("q", at(now + 4_000), Duration::from_secs(1), 10)
            .unwrap()
            .is_empty());
        let again = store
            .claim_due("q", at(now + 5_000), Duration::from_secs(1), 10)
            .unwrap();
        assert_eq!(
            again,
            vec![Claimed {
                item: "b".into(),
                body: Vec::new()
            }],
            "b, rescheduled; a is gone"
        );
        assert_eq!(
            store.deliveries("evt_x").unwrap(),
            vec![("we_1".to_owned(), b"{}".to_vec())]
        );
    }

    #[test]
    fn a_guarded_event_is_recorded_only_when_its_value_changes() {
        let store = DiskStore::open(&temp_path("guard")).unwrap();
        let now = 1_700_000_000_000;
        let guarded = |n: u64, value: &str| NewEvent {
            guard: Some(("balance".into(), value.into())),
            ..event(now, n, "stripe:a")
        };
        let recorded = store
            .append_events(
                &[guarded(1, "10"), guarded(2, "10"), guarded(3, "9"), guarded(4, "10")],
                at(now),
            )
            .unwrap();
        assert_eq!(recorded, vec![true, false, true, true]);
    }
}
