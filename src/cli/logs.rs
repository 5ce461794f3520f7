//! Log lines on stderr, filtered by `CREDITGATE_LOG` (default `info`), as text or JSON.
//!
//! `serve` writes them from a thread of their own ([`Output::Background`]): a request
//! formats its line and queues it, it never waits on stderr. Written directly, each
//! request's line was a `write(2)` under stderr's lock on the worker thread serving it: a
//! stderr that stopped draining (a stuck log collector) stopped every request with it, and
//! at the default `info` a cache hit cost a third more CPU than with `warn` (BENCHMARKS.md).
//! The thread writes what it finds queued in one go, then rests [`PAUSE`] ([`Batches`]).
//!
//! The queue holds [`QUEUED_LINES`]; if stderr falls that far behind, further lines are
//! dropped rather than waited for, and counted (`creditgate_log_lines_dropped_total`, and
//! a last line on exit). The other commands write directly: their lines and their own
//! progress output on stderr stay in order.

use std::fmt;
use std::io::{BufWriter, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::LogFormat;

/// Lines the background writer holds before it drops new ones: about 5 MiB of typical
/// lines, a quarter of a second of hits at full speed on the benchmark's machine.
const QUEUED_LINES: usize = 16_384;

/// How the lines reach stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// From the thread that logs, in order with anything else it prints.
    Direct,
    /// Queued to a writer thread of their own (`serve`).
    Background,
}

/// The background writer's guard: dropping it writes out what is still queued.
static BACKGROUND: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Starts logging. With `traces`, creditgate's spans (and only its spans, at every level
/// down to `debug`) also go to the OTLP exporter, whatever the log filter. Colour only on
/// a terminal and never with `NO_COLOR`.
pub fn init(format: LogFormat, traces: Option<&creditgate::telemetry::Tracing>, output: Output) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CREDITGATE_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let writer = match output {
        Output::Direct => BoxMakeWriter::new(std::io::stderr),
        Output::Background => {
            let (writer, guard) = NonBlockingBuilder::default()
                .buffered_lines_limit(QUEUED_LINES)
                .lossy(true)
                .thread_name("creditgate-logs")
                .finish(Batches(BufWriter::with_capacity(64 * 1024, std::io::stderr())));
            let dropped = writer.error_counter();
            creditgate::metrics::count_dropped_log_lines(move || dropped.dropped_lines() as u64);
            *BACKGROUND.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
            BoxMakeWriter::new(writer)
        }
    };
    let lines = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().event_format(JsonLine).boxed(),
    };
    let spans = traces.map(|traces| {
        traces
            .layer()
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with("creditgate") && *meta.level() <= tracing::Level::DEBUG
            }))
    });
    tracing_subscriber::registry()
        .with(spans)
        .with(lines.with_filter(filter))
        .init();
}

/// Writes out the lines still queued (waiting about a second at most for a stderr that
/// does not drain), then says on stderr how many were dropped, if any. Call before exit.
pub fn finish() {
    let guard = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(guard) = guard {
        drop(guard);
        let dropped = creditgate::metrics::dropped_log_lines();
        if dropped > 0 {
            eprintln!("creditgate: {dropped} log lines were dropped: stderr did not keep up");
        }
    }
}

/// The background writer's stderr. The writer thread writes out what it found queued and
/// flushes; the pause after each flush lets the next lines queue up without waking it (a
/// sleeping receiver is woken by every line sent to it: a futex call on the request's
/// thread, and a third thread to schedule on the same cores). Under load that is one
/// write and one wake-up per [`PAUSE`] instead of one per line; a line is never more than
/// [`PAUSE`] late.
struct Batches<W: Write>(BufWriter<W>);

/// How long the writer thread rests after each batch it writes out.
const PAUSE: Duration = Duration::from_millis(2);

impl<W: Write> Write for Batches<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.0.flush();
        std::thread::sleep(PAUSE);
        flushed
    }
}

/// `--log-format json`'s lines: byte for byte what tracing-subscriber's JSON format writes
/// (`timestamp`, `level`, `fields` in the order logged, `target`, the current `span` and
/// the `spans` from the root), at a third of its cost. That format parses each span's
/// stored fields back from JSON for every line and writes through a `fmt::Write` adaptor
/// piece by piece: 29,000 instructions for a request's line, against 45,000 for the whole
/// cache hit it describes. This one copies the stored fields (already JSON, written by the
/// same layer's `JsonFields`) and builds the line in one buffer.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        let mut line = Vec::with_capacity(384);
        line.extend_from_slice(b"{\"timestamp\":");
        json_value(&mut line, &timestamp)?;
        line.extend_from_slice(b",\"level\":");
        json_value(&mut line, meta.level().as_str())?;
        line.extend_from_slice(b",\"fields\":{");
        let mut fields = JsonFieldsVisitor {
            line: &mut line,
            first: true,
            failed: false,
        };
        event.record(&mut fields);
        if fields.failed {
            return Err(fmt::Error);
        }
        line.extend_from_slice(b"},\"target\":");
        json_value(&mut line, meta.target())?;
        let current = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = &current {
            line.extend_from_slice(b",\"span\":");
            span_object::<S, N>(&mut line, span)?;
            line.extend_from_slice(b",\"spans\":[");
            if let Some(leaf) = ctx.lookup_current() {
                for (n, span) in leaf.scope().from_root().enumerate() {
                    if n > 0 {
                        line.push(b',');
                    }
                    span_object::<S, N>(&mut line, &span)?;
                }
            }
            line.push(b']');
        }
        line.push(b'}');
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)?;
        writeln!(writer)
    }
}

/// A span as `{<its fields>,"name":…}`: the fields as `JsonFields` stored them (one JSON
/// object, keys sorted), copied rather than parsed and written again.
fn span_object<S, N>(line: &mut Vec<u8>, span: &SpanRef<'_, S>) -> fmt::Result
where
    S: for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    let extensions = span.extensions();
    let stored = extensions.get::<FormattedFields<N>>().map_or("", |f| f.fields.as_str());
    let inner = stored.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or("");
    line.push(b'{');
    if !inner.is_empty() {
        line.extend_from_slice(inner.as_bytes());
        line.push(b',');
    }
    line.extend_from_slice(b"\"name\":");
    json_value(line, span.metadata().name())?;
    line.push(b'}');
    Ok(())
}

fn json_value(line: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) -> fmt::Result {
    serde_json::to_writer(line, value).map_err(|_| fmt::Error)
}

/// An event's fields as `"name":value` pairs, each value as tracing-serde writes it:
/// numbers and booleans as themselves, everything else as its `Debug` text.
struct JsonFieldsVisitor<'a> {
    line: &'a mut Vec<u8>,
    first: bool,
    failed: bool,
}

impl JsonFieldsVisitor<'_> {
    fn entry(&mut self, field: &Field, value: &(impl serde::Serialize + ?Sized)) {
        if !self.first {
            self.line.push(b',');
        }
        self.first = false;
        self.failed |= json_value(self.line, field.name()).is_err();
        self.line.push(b':');
        self.failed |= json_value(self.line, value).is_err();
    }
}

impl Visit for JsonFieldsVisitor<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

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
            let failure = std::io::Error::other("connection \"reset\"");
            inner.in_scope(|| {
                tracing::error!(error = &failure as &dyn std::error::Error, list = ?vec!["a", "b"], "nested");
            });
            tracing::info_span!("no_fields").in_scope(|| tracing::info!("in a span without fields"));
        });
        tracing::info!(parent: &request, "an explicit parent, no current span");
    }

    /// The lines `log_everything` writes through the layer `--log-format json` uses, with
    /// tracing-subscriber's own event format or with [`JsonLine`]; timestamps taken off.
    fn json_lines(ours: bool) -> Vec<String> {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .with_ansi(false)
            .json();
        if ours {
            tracing::subscriber::with_default(
                tracing_subscriber::registry().with(layer.event_format(JsonLine)),
                log_everything,
            );
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log_everything);
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
        let theirs = json_lines(false);
        assert_eq!(theirs.len(), 5, "{theirs:#?}");
        assert_eq!(json_lines(true), theirs);
    }

    #[test]
    fn json_lines_start_with_the_time() {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .json()
            .event_format(JsonLine);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || tracing::info!("x"));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).is_ok());
        assert!(text.starts_with("{\"timestamp\":") && text.ends_with("}\n"), "{text}");
    }
}
