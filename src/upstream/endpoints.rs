//! The vendor endpoints creditgate calls, as metrics label its calls: a closed list per
//! vendor (the `[endpoints]` table of `providers/<vendor>.toml`), so that no id in a path
//! ever becomes a label.
//!
//! A template is a method and a path relative to the vendor's base URL, `{id}` standing
//! for one segment: `GET /credits/{id}/balances`. A request is labelled with the first
//! template whose method is its method and whose segments are the last segments of its
//! path (whatever the base URL's own path); `other` when none is.

use axum::http::Method;

/// The label of a call no template matches.
pub const OTHER: &str = "other";

/// One vendor's endpoint templates, longest first.
#[derive(Debug, Clone, Default)]
pub struct VendorEndpoints {
    templates: Vec<Template>,
}

#[derive(Debug, Clone)]
struct Template {
    label: String,
    method: Method,
    /// `None` for `{id}`.
    segments: Vec<Option<String>>,
}

impl VendorEndpoints {
    /// Parses `METHOD /path/{id}` templates.
    pub fn parse(calls: &[String]) -> Result<VendorEndpoints, String> {
        let mut templates = calls
            .iter()
            .map(|call| {
                let (method, path) = call
                    .split_once(' ')
                    .ok_or_else(|| format!("`{call}` is not `METHOD /path`"))?;
                let method = Method::from_bytes(method.as_bytes()).map_err(|_| format!("`{call}`: bad method"))?;
                let path = path
                    .strip_prefix('/')
                    .ok_or_else(|| format!("`{call}`: the path must start with `/`"))?;
                let segments = path.split('/').map(|s| (s != "{id}").then(|| s.to_owned())).collect();
                Ok(Template {
                    label: call.clone(),
                    method,
                    segments,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        // The most specific first: `/credits/{id}/balances` before `/credits/{id}`.
        templates.sort_by_key(|t| std::cmp::Reverse(t.segments.len()));
        Ok(VendorEndpoints { templates })
    }

    /// The label of a request to `path` with `method`.
    pub fn label(&self, method: &Method, path: &str) -> &str {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.templates
            .iter()
            .find(|t| {
                t.method == method
                    && segments.len() > t.segments.len()
                    && t.segments
                        .iter()
                        .zip(&segments[segments.len() - t.segments.len()..])
                        .all(|(expected, got)| expected.as_deref().is_none_or(|e| e == *got))
            })
            .map_or(OTHER, |t| t.label.as_str())
    }

    /// Every label a call can get, [`OTHER`] included.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.templates.iter().map(|t| t.label.as_str()).chain([OTHER])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_labelled_by_their_template_never_by_their_ids() {
        let endpoints = VendorEndpoints::parse(&[
            "GET /credits".into(),
            "GET /credits/{id}".into(),
            "GET /credits/{id}/balances".into(),
            "DELETE /credits/{id}".into(),
        ])
        .unwrap();
        let label = |method: Method, path: &str| endpoints.label(&method, path).to_owned();
        assert_eq!(label(Method::GET, "/api/credits"), "GET /credits");
        assert_eq!(label(Method::GET, "/api/credits/cr_1"), "GET /credits/{id}");
        assert_eq!(
            label(Method::GET, "/api/credits/cus_9/balances"),
            "GET /credits/{id}/balances"
        );
        assert_eq!(label(Method::DELETE, "/credits/cr_1"), "DELETE /credits/{id}");
        assert_eq!(label(Method::POST, "/credits/cr_1"), OTHER);
        assert_eq!(label(Method::GET, "/wallets/w_1"), OTHER);
        assert_eq!(
            endpoints.labels().collect::<Vec<_>>(),
            [
                "GET /credits/{id}/balances",
                "GET /credits/{id}",
                "DELETE /credits/{id}",
                "GET /credits",
                OTHER
            ]
        );
        assert!(VendorEndpoints::parse(&["GET credits".into()]).is_err());
        assert!(VendorEndpoints::parse(&["/credits".into()]).is_err());
    }
}
