//! The URLs creditgate sends to: a vendor's base URL as configured, and ids appended to it
//! as path segments.

use url::Url;

/// Parses a base URL so that path segments can be appended to it.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http(s) base URL"));
    }
    // The credential travels in a header: in clear only to this machine (a simulator, a
    // local proxy).
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(format!(
            "`{text}` would send the vendor credential unencrypted: use https://, or http:// only to this \
             machine (localhost, 127.0.0.1, ::1)"
        ));
    }
    Ok(url)
}

/// Whether `url` names this machine (localhost, 127.0.0.0/8, ::1).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Appends percent-encoded path segments to a base URL: an id is always one segment.
pub fn join_segments(base: &Url, segments: &[&str]) -> Result<Url, String> {
    if let Some(bad) = segments.iter().find(|s| s.bytes().all(|b| b == b'.')) {
        return Err(format!(
            "{} is empty or only dots: it cannot name an item in a URL",
            crate::model::quoted(bad)
        ));
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| "the base URL cannot take path segments".to_owned())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_empty_segments_never_reach_a_url() {
        let base = parse_base_url("http://127.0.0.1:9/").unwrap();
        assert!(join_segments(&base, &["credits", ".."]).is_err());
        assert!(join_segments(&base, &["credits", ""]).is_err());
        assert!(join_segments(&base, &["credits", "."]).is_err());
    }

    #[test]
    fn plain_http_goes_only_to_this_machine() {
        for ok in [
            "https://api.stripe.com",
            "http://127.0.0.1:9",
            "http://localhost:3000/api/v1",
            "http://[::1]:8",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://api.stripe.com",
            "http://10.0.0.5:3000/api/v1",
            "ftp://127.0.0.1",
        ] {
            assert!(parse_base_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn segments_are_percent_encoded() {
        let base = parse_base_url("http://127.0.0.1:9/api/").unwrap();
        let url = join_segments(&base, &["v1", "x/../y?z"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/v1/x%2F..%2Fy%3Fz");
    }
}
