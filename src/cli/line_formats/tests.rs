//! The formats against tracing-subscriber's own, line by line.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// Lines written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Every shape of line creditgate writes: outside any span, in the request span (its
/// trace id recorded after it started), nested, in a span with no fields, with an
/// explicit parent that is not the current span; every kind of value, and text that
/// needs escaping.
fn log_everything() {
    tracing::info!("no span: \"quoted\"\n\tand ünïcode \u{1}");
    let request = tracing::error_span!("request", request_id = %"req_1", trace_id = tracing::field::Empty);
    request.in_scope(|| {
        tracing::warn!(method = %"GET", route = "/v1/x", status = 200u16, elapsed_us = 12u64, delta = -3i64,
            ratio = 0.25f64, ok = true, "request");
        request.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        let inner = tracing::info_span!("vendor_attempt", attempt = 1u64, vendor = "stripe");
        let failure = Wrapped(std::io::Error::other("connection \"reset\""));
        inner.in_scope(|| {
            tracing::error!(error = &failure as &dyn std::error::Error, list = ?vec!["a", "b"], r#type = "x",
                "nested \u{1b}[31m");
        });
        tracing::info_span!("no_fields").in_scope(|| tracing::info!("in a span without fields"));
    });
    tracing::info!(parent: &request, "an explicit parent, no current span");
    tracing::debug!(n = 1u64, "every level");
    tracing::trace!(n = 2u64, "every level");
}

/// An error with a source, as a vendor call's failure is.
#[derive(Debug)]
struct Wrapped(std::io::Error);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the vendor call failed")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The lines `log_everything` writes through the layer `--log-format json` uses, with
/// tracing-subscriber's own event format or with [`JsonLine`]; timestamps taken off.
fn json_lines(ours: bool, spanless_requests: bool, log: fn()) -> Vec<String> {
    let out = Captured::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(out.clone())
        .with_ansi(false)
        .json();
    if ours {
        let ours = layer.event_format(JsonLine { spanless_requests });
        tracing::subscriber::with_default(tracing_subscriber::registry().with(ours), log);
    } else {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| {
            let (_, rest) = line.split_once("\",\"level\":").unwrap_or_else(|| panic!("{line}"));
            rest.to_owned()
        })
        .collect()
}

#[test]
fn json_lines_are_byte_for_byte_tracing_subscribers() {
    let theirs = json_lines(false, false, log_everything);
    assert_eq!(theirs.len(), 7, "{theirs:#?}");
    assert_eq!(json_lines(true, false, log_everything), theirs);
}

/// The text lines `log_everything` writes with colour off, through tracing-subscriber's
/// default format or through [`TextLine`] and [`TextFields`]; timestamps taken off.
fn text_lines(ours: bool, spanless_requests: bool, log: fn()) -> Vec<String> {
    let out = Captured::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(out.clone())
        .with_ansi(false);
    if ours {
        let ours = layer
            .fmt_fields(TextFields)
            .event_format(TextLine { spanless_requests });
        tracing::subscriber::with_default(tracing_subscriber::registry().with(ours), log);
    } else {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    // A line starts with its time; a message's own newline starts a line without one.
    text.lines()
        .map(|line| match line.split_once(' ') {
            Some((time, rest)) if time.ends_with('Z') => rest.to_owned(),
            _ => line.to_owned(),
        })
        .collect()
}

#[test]
fn text_lines_are_byte_for_byte_tracing_subscribers() {
    let theirs = text_lines(false, false, log_everything);
    assert_eq!(theirs.len(), 8, "{theirs:#?}");
    assert!(theirs.iter().any(|l| l.contains("error.sources=")), "{theirs:#?}");
    assert_eq!(text_lines(true, false, log_everything), theirs);
}

/// A client's request id: any visible ASCII, so JSON must escape some of it.
const CLIENT_ID: &str = r#"req-"quoted"\back{x}"#;

/// A request's lines: directly in it, in a span inside it, in a span without fields.
fn request_lines() {
    tracing::warn!(status = 200u16, "in the request");
    tracing::info_span!("vendor_attempt", attempt = 1u64).in_scope(|| tracing::error!("nested"));
    tracing::info_span!("no_fields").in_scope(|| tracing::info!("in a span without fields"));
}

/// A request as it runs with its span (tracing-subscriber's formats need it).
fn in_the_request_span() {
    tracing::error_span!("request", request_id = %CLIENT_ID).in_scope(request_lines);
}

/// A request as `serve` runs it with these formats: no span, the id current.
fn spanless_request() {
    creditgate::request_id::in_scope(CLIENT_ID.to_owned(), request_lines);
}

/// A request with both, as with `[telemetry]`: the id current and in its span, which
/// the formats then leave to carry it.
fn request_with_both() {
    creditgate::request_id::in_scope(CLIENT_ID.to_owned(), in_the_request_span);
}

#[test]
fn without_a_span_a_requests_lines_carry_its_id_as_its_span_would() {
    let theirs = text_lines(false, false, in_the_request_span);
    assert_eq!(theirs.len(), 3, "{theirs:#?}");
    assert!(
        theirs[1].starts_with(r#"ERROR request{request_id=req-"quoted"\back{x}}:vendor_attempt{attempt=1}: "#),
        "{theirs:#?}"
    );
    assert_eq!(text_lines(true, true, spanless_request), theirs);
    assert_eq!(text_lines(true, false, request_with_both), theirs);
    let theirs = json_lines(false, false, in_the_request_span);
    assert_eq!(theirs.len(), 3, "{theirs:#?}");
    assert!(
        theirs[0].contains(r#""span":{"request_id":"req-\"quoted\"\\back{x}","name":"request"}"#),
        "{theirs:#?}"
    );
    assert_eq!(json_lines(true, true, spanless_request), theirs);
    assert_eq!(json_lines(true, false, request_with_both), theirs);
}

#[test]
fn json_lines_start_with_the_time() {
    let out = Captured::default();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(out.clone())
        .json()
        .event_format(JsonLine {
            spanless_requests: false,
        });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || tracing::info!("x"));
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).is_ok());
    assert!(text.starts_with("{\"timestamp\":") && text.ends_with("}\n"), "{text}");
}
