//! Strict query-string parsing: unknown, repeated or malformed parameters are a 400 that
//! names the parameter, before any vendor call.

use std::str::FromStr;

use crate::error::ApiError;
use crate::model::quoted;

/// The query string's pairs, taken one by one; whatever is left is an unknown parameter.
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Removes and returns `name`; a repeated parameter is refused.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let count = self.0.iter().filter(|(k, _)| k == name).count();
        if count > 1 {
            return Err(ApiError::invalid_param(
                name,
                format!("{name} is given {count} times; give it once"),
            ));
        }
        Ok(self.0.iter().position(|(k, _)| k == name).map(|i| self.0.remove(i).1))
    }

    /// Takes `name`, which must be there.
    pub fn take_required(&mut self, name: &str) -> Result<String, ApiError> {
        self.take(name)?
            .ok_or_else(|| ApiError::invalid_param(name, format!("{name} is required")))
    }

    /// Takes `name` and parses it with the type's own `FromStr` message.
    pub fn take_parsed<T: FromStr<Err = String>>(&mut self, name: &str) -> Result<Option<T>, ApiError> {
        self.take(name)?
            .map(|v| v.parse::<T>().map_err(|e| ApiError::invalid_param(name, e)))
            .transpose()
    }

    /// `include=a,b`: every value must be one of `allowed`.
    pub fn take_include(&mut self, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let Some(value) = self.take("include")? else {
            return Ok(Vec::new());
        };
        value
            .split(',')
            .map(|item| {
                if allowed.contains(&item) {
                    Ok(item.to_owned())
                } else {
                    Err(ApiError::invalid_param(
                        "include",
                        format!("cannot include {} here (allowed: {})", quoted(item), allowed.join(", ")),
                    ))
                }
            })
            .collect()
    }

    /// Refuses whatever was not taken.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::invalid_param(
                name,
                format!("unknown parameter {}", quoted(name)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::Limit;

    #[test]
    fn strict_parsing() {
        let mut p = Params::parse(Some("customer=stripe%3Acus_1&limit=abc&limit=2"));
        assert_eq!(p.take("customer").unwrap().as_deref(), Some("stripe:cus_1"));
        assert!(p
            .take_parsed::<Limit>("limit")
            .unwrap_err()
            .to_string()
            .contains("2 times"));
        let mut p = Params::parse(Some("limit=abc"));
        assert!(p
            .take_parsed::<Limit>("limit")
            .unwrap_err()
            .to_string()
            .contains("`abc`"));
        for refused in ["0", "501", "+5", "05", " 5", "-1"] {
            let mut p = Params::parse(Some(&format!(
                "limit={}",
                refused.replace(' ', "%20").replace('+', "%2B")
            )));
            assert!(p.take_parsed::<Limit>("limit").is_err(), "{refused}");
        }
        let mut p = Params::parse(Some("limit=500"));
        assert_eq!(p.take_parsed::<Limit>("limit").unwrap(), Some(Limit::MAX));
        let p = Params::parse(Some("custmer=x"));
        assert!(p
            .finish()
            .unwrap_err()
            .to_string()
            .contains("unknown parameter `custmer`"));
        let mut p = Params::parse(Some("include=raw,ledger"));
        assert!(p.take_include(&["raw"]).is_err());
    }
}
