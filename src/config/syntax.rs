//! Where in the config file a TOML error is, said without quoting the file's text.

/// A TOML error's message with where it is, `line L, column C` (1-based), and for a
/// duplicate key its name. Nothing else of the text is quoted: it may be a secret.
pub(super) fn located(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().to_owned();
    let Some(span) = error.span().filter(|s| s.end <= text.len()) else {
        return message;
    };
    let before = &text[..span.start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let key = text[span].trim();
    if message == "duplicate key" && !key.is_empty() && key.len() <= 100 {
        format!("line {line}, column {column}: duplicate key `{key}`")
    } else {
        format!("line {line}, column {column}: {message}")
    }
}
