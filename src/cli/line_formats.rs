//! The formats of the log lines `src/cli/logs.rs` writes, when colour is off: each writes
//! what tracing-subscriber's own format writes, byte for byte (the tests below compare
//! them over every field kind and span shape), at a fraction of its cost. A request writes
//! one line, so these run on every request.
//!
//! They also write a request's span when the request has none: `serve` runs requests
//! without it when these formats are in use and traces are off
//! (`creditgate::request_id::set_request_spans`), and a line logged inside a request then
//! gets `request{request_id=…}` (JSON: the `request` span object) from the current request
//! id, exactly as the span would have written it (a test compares them). Creating,
//! entering and closing that span was a tenth of a cache hit.

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
pub struct JsonLine {
    /// See [`TextLine::spanless_requests`].
    pub spanless_requests: bool,
}

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
        let mut request = Vec::new();
        if self.spanless_requests {
            creditgate::request_id::with_current(|id| request_object(&mut request, id)).transpose()?;
        }
        if current.is_some() || !request.is_empty() {
            line.extend_from_slice(b",\"span\":");
            match &current {
                Some(span) => span_object::<S, N>(&mut line, span)?,
                None => line.extend_from_slice(&request),
            }
            line.extend_from_slice(b",\"spans\":[");
            line.extend_from_slice(&request);
            if let Some(leaf) = ctx.lookup_current() {
                for (n, span) in leaf.scope().from_root().enumerate() {
                    if n > 0 || !request.is_empty() {
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

/// The request span's name and its one field without `[telemetry]`.
const REQUEST: &str = "request";
const REQUEST_ID: &str = "request_id";

/// The request span as JSON lines write it, `{"request_id":…,"name":"request"}`.
fn request_object(line: &mut Vec<u8>, id: &str) -> fmt::Result {
    line.extend_from_slice(b"{\"");
    line.extend_from_slice(REQUEST_ID.as_bytes());
    line.extend_from_slice(b"\":");
    json_value(line, id)?;
    line.extend_from_slice(b",\"name\":");
    json_value(line, REQUEST)?;
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
pub struct TextLine {
    /// Requests run without their span (`creditgate::request_id::set_request_spans`): a
    /// line logged inside one starts with the span it would have had, from the current
    /// request id.
    pub spanless_requests: bool,
}

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
        let mut spans_written = false;
        if self.spanless_requests {
            let written = creditgate::request_id::with_current(|id| write!(writer, "{REQUEST}{{{REQUEST_ID}={id}}}:"));
            spans_written = written.transpose()?.is_some();
        }
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            writer.write_str(span.metadata().name())?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>().filter(|f| !f.fields.is_empty()) {
                writer.write_char('{')?;
                writer.write_str(&fields.fields)?;
                writer.write_char('}')?;
            }
            writer.write_char(':')?;
            spans_written = true;
        }
        if spans_written {
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
mod tests;
