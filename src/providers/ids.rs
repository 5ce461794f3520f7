//! The shapes of vendor ids (`[ids.*]` in each provider file), checked before any vendor
//! call so that an id can never reach a different vendor path.

use serde::Deserialize;

use crate::model::quoted;

/// The shapes of a vendor's ids (`[ids.customer]`, `[ids.grant]` in its provider file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdFacts {
    pub customer: IdShape,
    /// Absent for a vendor without grants.
    #[serde(default)]
    pub grant: Option<IdShape>,
}

/// The shape of a vendor id, checked before any call so a client id can never reach a
/// different vendor path.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdShape {
    /// Required prefix (`cus_`, `credgr_`).
    #[serde(default)]
    pub prefix: String,
    pub charset: IdCharset,
    /// Exact length of the part after the prefix.
    pub length: Option<usize>,
    #[serde(default = "default_max_id_len")]
    pub max_length: usize,
    /// What the id is, for messages ("a Stripe customer id").
    pub describe: String,
}

fn default_max_id_len() -> usize {
    255
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdCharset {
    /// ASCII letters, digits and `_`.
    Alphanumeric,
    /// Hex digits.
    Hex,
    /// A UUID: 8-4-4-4-12 hex digits.
    Uuid,
    /// ASCII letters, digits, `_`, `-` and `.` (Togai's `cred.1znQx9jiIXw.r44fc`).
    Token,
}

impl IdShape {
    pub fn check(&self, id: &str) -> Result<(), String> {
        let fail = || format!("{} is not {}: expected {}", quoted(id), self.describe, self.expected());
        let Some(rest) = id.strip_prefix(self.prefix.as_str()) else {
            return Err(fail());
        };
        // `.` and `..` would be resolved away by URL path handling, not encoded.
        if rest.bytes().all(|b| b == b'.') {
            return Err(fail());
        }
        let charset_ok = match self.charset {
            IdCharset::Uuid => {
                let groups: Vec<&str> = rest.split('-').collect();
                groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
                    && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            IdCharset::Alphanumeric => rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            IdCharset::Hex => rest.bytes().all(|b| b.is_ascii_hexdigit()),
            IdCharset::Token => rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')),
        };
        let length_ok = match self.length {
            Some(n) => rest.len() == n,
            None => !rest.is_empty() && id.len() <= self.max_length,
        };
        if charset_ok && length_ok {
            Ok(())
        } else {
            Err(fail())
        }
    }

    /// The same shape as an ECMA-262 regular expression (as OpenAPI and JSON Schema take
    /// it), unanchored, for the published document.
    pub fn pattern(&self) -> String {
        let room = self.max_length.saturating_sub(self.prefix.len());
        let count = match self.length {
            Some(n) => format!("{{{n}}}"),
            None => format!("{{1,{room}}}"),
        };
        let body = match self.charset {
            IdCharset::Uuid => {
                let hex = |n: usize| format!("[0-9a-fA-F]{{{n}}}");
                [hex(8), hex(4), hex(4), hex(4), hex(12)].join("-")
            }
            IdCharset::Alphanumeric => format!("[A-Za-z0-9_]{count}"),
            IdCharset::Hex => format!("[0-9a-fA-F]{count}"),
            // Not only dots: URL handling would resolve those away.
            IdCharset::Token => format!("(?!\\.+$)[A-Za-z0-9_.-]{count}"),
        };
        let prefix: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c.to_string()
                } else {
                    format!("\\{c}")
                }
            })
            .collect();
        format!("{prefix}{body}")
    }

    /// What a valid id looks like: "`cus_` followed by 1 to 251 alphanumeric characters",
    /// "24 hex characters", "a UUID".
    fn expected(&self) -> String {
        let count = match (self.charset, self.length) {
            (IdCharset::Uuid, _) => "a UUID".to_owned(),
            (_, Some(n)) => format!("{n} {} characters", self.charset_name()),
            (_, None) => format!(
                "1 to {} {} characters",
                self.max_length.saturating_sub(self.prefix.len()),
                self.charset_name()
            ),
        };
        if self.prefix.is_empty() {
            count
        } else {
            format!("`{}` followed by {count}", self.prefix)
        }
    }

    fn charset_name(&self) -> &'static str {
        match self.charset {
            IdCharset::Alphanumeric => "alphanumeric",
            IdCharset::Hex => "hex",
            IdCharset::Uuid => "UUID",
            IdCharset::Token => "letter, digit, `_`, `-` or `.`",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        let cus = IdShape {
            prefix: "cus_".into(),
            charset: IdCharset::Alphanumeric,
            length: None,
            max_length: 255,
            describe: "a Stripe customer id".into(),
        };
        assert!(cus.check("cus_123abc").is_ok());
        assert!(cus.check("cus_").is_err());
        assert!(cus.check("cus_../../v1/charges").is_err());
        assert!(cus
            .check("65f0c0ffee0123456789abcd")
            .unwrap_err()
            .contains("Stripe customer id"));
        let hex = IdShape {
            prefix: String::new(),
            charset: IdCharset::Hex,
            length: Some(24),
            max_length: 24,
            describe: "a Vayu customer id".into(),
        };
        assert!(hex.check("65f0c0ffee0123456789abcd").is_ok());
        assert!(hex.check("65f0c0ffee0123456789abc").is_err());
        assert!(hex.check("65f0c0ffee0123456789abcz").is_err());
        let uuid = IdShape {
            prefix: String::new(),
            charset: IdCharset::Uuid,
            length: None,
            max_length: 36,
            describe: "a Metronome customer id".into(),
        };
        assert!(uuid.check("13117714-3f05-48e5-a6e9-a66093f13b4d").is_ok());
        assert!(uuid.check("13117714-3f05-48e5-a6e9-a66093f13b4").is_err());
        assert!(uuid.check("13117714_3f05_48e5_a6e9_a66093f13b4d").is_err());
        let token = IdShape {
            charset: IdCharset::Token,
            describe: "a Togai credit id".into(),
            ..uuid
        };
        assert!(token.check("cred.1znqBOVcai0.0tBFz").is_ok());
        assert!(token.check("cred/../x").is_err());
        assert!(token.check("..").is_err(), "URL handling would resolve `..` away");
        assert!(token.check(".").is_err());
    }
}
