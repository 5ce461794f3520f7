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
//! progress output on stderr stay in order. Without colour, the lines are formatted by
//! `line_formats.rs`: tracing-subscriber's formats, byte for byte, at a fraction of the cost.

use std::io::{BufWriter, IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use super::line_formats::{JsonLine, TextFields, TextLine};
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
    // Requests need a span of their own to carry their id only for tracing-subscriber's
    // (coloured) format and for traces; creditgate's formats can write it from the request's
    // context instead (`creditgate::request_id::set_request_spans`).
    let coloured = matches!(format, LogFormat::Text) && ansi;
    let spanless_requests = !coloured && traces.is_none();
    creditgate::request_id::set_request_spans(!spanless_requests);
    let lines = match format {
        LogFormat::Text if ansi => lines.boxed(),
        LogFormat::Text => lines
            .fmt_fields(TextFields)
            .event_format(TextLine { spanless_requests })
            .boxed(),
        LogFormat::Json => lines.json().event_format(JsonLine { spanless_requests }).boxed(),
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
