//! The formats of the log lines `src/cli/logs.rs` writes, when colour is off: each writes
//! what tracing-subscriber's own format writes, byte for byte (the tests below compare
//! them over every field kind and span shape), at a fraction of its cost. A request writes
//! one line and creates one span whose fields are formatted, so these run on every request.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// `--log-format json`'s lines: byte for byte what tracing-subscriber's JSON format writes
/// (`timestamp`, `level`, `fields` in the order logged, `target`, the current `span` and
/// the `spans` from the root), at a third of its cost. That format parses each span's
/// stored fields back from JSON for every line and writes through a `fmt::Write` adaptor
/// piece by piece: 33,000 instructions for a request's line, against 45,000 for the whole
/// cache hit it describes. This one copies the stored fields (already JSON, written by the
/// same layer's `JsonFields`) and builds the line in one buffer: 12,000.
pub struct JsonLine;

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

/// Text lines when colour is off: what tracing-subscriber's default (`Full`) format writes,
/// byte for byte (a test compares the two): the time, the level, the spans from the root
/// with their fields, the target, the event's fields. Written straight, without the
/// styling calls that format makes for every part even when they style nothing.
pub struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        let meta = event.metadata();
        writer.write_str(match *meta.level() {
            tracing::Level::TRACE => " TRACE ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>().filter(|f| !f.fields.is_empty()) {
                    writer.write_char('{')?;
                    writer.write_str(&fields.fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Text lines' fields when colour is off: `name=value` after the message, what
/// tracing-subscriber's `DefaultFields` writes, byte for byte (a test compares the two),
/// without the styling calls it makes even when they style nothing: two a field, on every
/// request's span and line. The message, `r#` names and errors (their escaping, their
/// chains of sources) are left to `DefaultFields`' own visitor.
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = TextVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct TextVisitor<'w> {
    writer: Writer<'w>,
    /// Nothing written yet: no space before the next field.
    empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Whether tracing-subscriber's visitor writes this field some other way than
    /// `name=<Debug>`.
    fn special(field: &Field) -> bool {
        field.name() == "message" || field.name().starts_with("r#")
    }

    fn plain(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if !self.empty {
            self.result = self.writer.write_char(' ');
        }
        self.empty = false;
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(field.name()))
            .and_then(|()| self.writer.write_char('='))
            .and_then(|()| write!(self.writer, "{value:?}"));
    }

    fn stock(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.empty);
        record(&mut visitor);
        self.result = visitor.finish();
        self.empty = false;
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::special(field) {
            self.stock(|v| v.record_str(field, value));
        } else {
            self.plain(field, &value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if Self::special(field) {
            self.stock(|v| v.record_debug(field, value));
        } else {
            self.plain(field, value);
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.stock(|v| v.record_error(field, value));
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(theirs.len(), 7, "{theirs:#?}");
        assert_eq!(json_lines(true), theirs);
    }

    /// The text lines `log_everything` writes with colour off, through tracing-subscriber's
    /// default format or through [`TextLine`] and [`TextFields`]; timestamps taken off.
    fn text_lines(ours: bool) -> Vec<String> {
        let out = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(out.clone())
            .with_ansi(false);
        if ours {
            tracing::subscriber::with_default(
                tracing_subscriber::registry().with(layer.fmt_fields(TextFields).event_format(TextLine)),
                log_everything,
            );
        } else {
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log_everything);
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
        let theirs = text_lines(false);
        assert_eq!(theirs.len(), 8, "{theirs:#?}");
        assert!(theirs.iter().any(|l| l.contains("error.sources=")), "{theirs:#?}");
        assert_eq!(text_lines(true), theirs);
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
