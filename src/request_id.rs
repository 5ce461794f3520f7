//! The request id of the call being served, reachable from anywhere in its task
//! (error bodies and upstream calls carry it without threading it through every signature).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id.
pub async fn run_with<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Runs `f` with `id` as the current request id (synchronous code: a log line).
pub fn in_scope<R>(id: String, f: impl FnOnce() -> R) -> R {
    REQUEST_ID.sync_scope(id, f)
}

/// The current request id, or `None` outside a request (library use, background work).
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// `f` of the current request id, without copying it; `None` outside a request.
pub fn with_current<R>(f: impl FnOnce(&str) -> R) -> Option<R> {
    REQUEST_ID.try_with(|id| f(id)).ok()
}

/// Whether each request also opens a tracing span, `request{request_id=…}`, so that the
/// lines logged while it runs carry its id. On unless turned off: any subscriber needs the
/// span to know the id, except one that reads it from [`with_current`] and writes it as the
/// span would be written (`serve`'s own line formats, `src/cli/line_formats.rs`). Without
/// the span a cache hit costs about a tenth less (BENCHMARKS.md). With `[telemetry]`
/// requests always have their span: it is what is exported.
static REQUEST_SPANS: AtomicBool = AtomicBool::new(true);

/// See [`REQUEST_SPANS`]. Set once, before serving.
pub fn set_request_spans(on: bool) {
    REQUEST_SPANS.store(on, Ordering::Relaxed);
}

/// See [`REQUEST_SPANS`].
pub fn request_spans() -> bool {
    REQUEST_SPANS.load(Ordering::Relaxed)
}

/// A fresh id: `req_` + time and a process counter; unique per process, sortable by time.
pub fn generate() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // `req_`, the time in 16 hex digits, the counter's low 24 bits in 6: written straight
    // into one string (this runs for every request).
    let mut id = String::with_capacity(26);
    id.push_str("req_");
    crate::hex::push_lower(&mut id, &nanos.to_be_bytes());
    crate::hex::push_lower(&mut id, &n.to_be_bytes()[5..]);
    id
}

/// A client-supplied id is kept only if it is short, visible ASCII: it is echoed in headers
/// and forwarded to vendors, so anything else is replaced by a generated one.
pub fn accept_client_id(value: &str) -> Option<String> {
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("req_"));
    }

    #[test]
    fn a_generated_id_is_req_then_22_lower_hex_digits_and_counts_in_its_last_six() {
        let a = generate();
        let b = generate();
        for id in [&a, &b] {
            assert_eq!(id.len(), 26, "{id}");
            assert!(
                id[4..]
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
        let counter = |id: &str| u32::from_str_radix(&id[20..], 16).unwrap();
        // Other tests generate ids at the same time: the counter only moves forward.
        assert!((counter(&b).wrapping_sub(counter(&a)) & 0xff_ffff) >= 1);
    }

    #[test]
    fn client_ids_are_checked() {
        assert_eq!(accept_client_id("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(accept_client_id("has space"), None);
        assert_eq!(accept_client_id(&"x".repeat(129)), None);
        assert_eq!(accept_client_id(""), None);
    }

    #[tokio::test]
    async fn scope_sets_the_current_id() {
        assert_eq!(current(), None);
        let seen = run_with("req_x".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("req_x"));
    }
}
