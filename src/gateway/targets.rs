//! Which providers a request reaches, and whether the caller may: customer references
//! (`<provider>:<id>` or an alias), grant references, the key's provider and customer
//! permissions, and capabilities. Everything here runs before any vendor call.

use std::future::Future;

use super::{Caller, Gateway, Skipped};
use crate::config::CustomerMap;
use crate::error::{ApiError, ErrorCode};
use crate::model::{qualified_id, quoted, Capability, ProviderKind};
use crate::providers::CreditsProvider;

/// A client's `customer=`: one provider's customer, or an alias from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    /// `<provider>:<vendor customer id>` (the id is not yet checked for shape).
    Qualified {
        provider: ProviderKind,
        id: String,
    },
    Alias(String),
}

impl CustomerRef {
    /// Parses `text` given as `param`: empty is refused, a `:` means `<provider>:<id>`.
    pub fn parse(text: &str, param: &str) -> Result<CustomerRef, ApiError> {
        if text.is_empty() {
            return Err(ApiError::invalid_param(param, format!("{param} cannot be empty")));
        }
        match text.split_once(':') {
            Some((prefix, id)) => Ok(CustomerRef::Qualified {
                provider: prefix.parse().map_err(|e: String| ApiError::invalid_param(param, e))?,
                id: id.to_owned(),
            }),
            None => Ok(CustomerRef::Alias(text.to_owned())),
        }
    }
}

/// A client's grant id: `<provider>:<vendor grant id>`.
#[derive(Debug, Clone, Copy)]
pub struct GrantRef<'a> {
    pub provider: ProviderKind,
    pub vendor_id: &'a str,
}

impl<'a> GrantRef<'a> {
    pub fn parse(text: &'a str, param: &str) -> Result<GrantRef<'a>, ApiError> {
        let (prefix, vendor_id) = text.split_once(':').ok_or_else(|| {
            ApiError::invalid_param(
                param,
                format!(
                    "{} is not a creditgate grant id (`<provider>:<vendor id>`)",
                    quoted(text)
                ),
            )
        })?;
        let provider = prefix.parse().map_err(|e: String| ApiError::invalid_param(param, e))?;
        Ok(GrantRef { provider, vendor_id })
    }
}

/// One provider a request will reach, with the customer's id there.
pub struct Target<'a> {
    pub adapter: &'a dyn CreditsProvider,
    pub customer_id: Option<String>,
}

/// The providers a request reaches, in config order, and those of an alias left out.
pub struct Reach<'a> {
    pub targets: Vec<Target<'a>>,
    pub skipped: Vec<Skipped>,
}

impl<'a> Reach<'a> {
    fn one(target: Target<'a>) -> Self {
        Reach {
            targets: vec![target],
            skipped: Vec::new(),
        }
    }
}

impl Gateway {
    pub(super) fn adapter(&self, provider: ProviderKind) -> Option<&dyn CreditsProvider> {
        self.inner
            .adapters
            .iter()
            .map(|a| a.as_ref())
            .find(|a| a.kind() == provider)
    }

    /// The adapter for a provider named by the client in `param`, if the key may use it.
    pub(super) fn configured(
        &self,
        caller: &Caller,
        provider: ProviderKind,
        param: &str,
    ) -> Result<&dyn CreditsProvider, ApiError> {
        let adapter = self.adapter(provider).ok_or_else(|| {
            ApiError::invalid_param(param, format!("provider {provider} is not configured in this gateway"))
        })?;
        if caller
            .providers
            .as_ref()
            .is_some_and(|allowed| !allowed.contains(&provider))
        {
            return Err(ApiError::Permission {
                code: ErrorCode::ProviderNotAllowed,
                message: format!("this API key may not use provider {provider}"),
                provider: Some(provider),
            });
        }
        Ok(adapter)
    }

    /// Whether `caller` may read what concerns `customer` (`<provider>:<id>`) at
    /// `provider`: the provider and the customer both within its key's reach.
    pub(super) fn may_see_qualified(&self, caller: &Caller, provider: ProviderKind, customer: &str) -> bool {
        let id = customer.split_once(':').map_or("", |(_, id)| id);
        caller.providers.as_ref().is_none_or(|p| p.contains(&provider)) && self.may_see_customer(caller, provider, id)
    }

    pub(super) fn may_see_customer(&self, caller: &Caller, provider: ProviderKind, id: &str) -> bool {
        let Some(allowed) = &caller.customers else { return true };
        let qualified = qualified_id(provider, id);
        allowed.iter().any(|entry| {
            *entry == qualified
                || self
                    .inner
                    .customers
                    .get(entry)
                    .is_some_and(|map| map.0.iter().any(|(p, i)| *p == provider && i == id))
        })
    }

    /// The configured aliases `caller` may read, in file order, each with the ids in it the
    /// caller may read (`<provider>:<id>`).
    pub fn visible_aliases(&self, caller: &Caller) -> Vec<(String, Vec<String>)> {
        self.inner
            .customers
            .0
            .iter()
            .map(|(alias, map)| {
                let ids = map
                    .0
                    .iter()
                    .filter(|(p, id)| {
                        self.adapter(*p).is_some() && self.may_see_qualified(caller, *p, &qualified_id(*p, id))
                    })
                    .map(|(p, id)| qualified_id(*p, id))
                    .collect::<Vec<_>>();
                (alias.clone(), ids)
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect()
    }

    pub(super) fn customer_not_allowed(customer: &str) -> ApiError {
        ApiError::Permission {
            code: ErrorCode::CustomerNotAllowed,
            message: format!("this API key may not read customer {}", quoted(customer)),
            provider: None,
        }
    }

    /// The configured alias `alias`, or `unknown_customer`.
    fn alias(&self, alias: &str) -> Result<&CustomerMap, ApiError> {
        self.inner
            .customers
            .get(alias)
            .ok_or_else(|| ApiError::unknown_customer(alias))
    }

    /// The `(provider, vendor id)` pairs a customer reference names.
    pub(super) fn customer_ids(&self, customer: &CustomerRef) -> Result<Vec<(ProviderKind, String)>, ApiError> {
        match customer {
            CustomerRef::Qualified { provider, id } => Ok(vec![(*provider, id.clone())]),
            CustomerRef::Alias(alias) => Ok(self.alias(alias)?.0.clone()),
        }
    }

    /// Resolves `customer=` and `provider=` into the providers to call, in config order; a
    /// provider lacking `capability` is a 501 when it is the only one and a `skipped` note
    /// when an alias spans several.
    pub(super) fn targets(
        &self,
        caller: &Caller,
        customer: Option<&str>,
        provider: Option<ProviderKind>,
        capability: Capability,
    ) -> Result<Reach<'_>, ApiError> {
        if let Some(p) = provider {
            self.configured(caller, p, "provider")?;
        }
        let Some(text) = customer else {
            return self.account_wide_target(caller, provider);
        };
        match CustomerRef::parse(text, "customer")? {
            CustomerRef::Qualified { provider: kind, id } => {
                if let Some(p) = provider.filter(|p| *p != kind) {
                    return Err(ApiError::invalid_param(
                        "provider",
                        format!("provider {p} conflicts with customer {}", quoted(text)),
                    ));
                }
                let adapter = self.configured(caller, kind, "customer")?;
                adapter
                    .check_customer_id(&id)
                    .map_err(|e| ApiError::invalid_param("customer", e))?;
                if !self.may_see_customer(caller, kind, &id) {
                    return Err(Self::customer_not_allowed(text));
                }
                adapter.require(capability)?;
                let target = Target {
                    adapter,
                    customer_id: Some(id),
                };
                Ok(Reach::one(target))
            }
            CustomerRef::Alias(alias) => self.alias_targets(caller, &alias, provider, capability),
        }
    }

    /// No customer: the whole account of the one provider named.
    fn account_wide_target(&self, caller: &Caller, provider: Option<ProviderKind>) -> Result<Reach<'_>, ApiError> {
        let Some(p) = provider else {
            return Err(ApiError::invalid_param(
                "customer",
                "customer is required (or provider, to list a whole vendor account)",
            ));
        };
        let adapter = self.configured(caller, p, "provider")?;
        if caller.customers.is_some() {
            return Err(Self::customer_not_allowed("*"));
        }
        adapter.require(Capability::AccountWideGrants)?;
        let target = Target {
            adapter,
            customer_id: None,
        };
        Ok(Reach::one(target))
    }

    fn alias_targets(
        &self,
        caller: &Caller,
        alias: &str,
        provider: Option<ProviderKind>,
        capability: Capability,
    ) -> Result<Reach<'_>, ApiError> {
        let map = self.alias(alias)?;
        let entries: Vec<_> = map
            .0
            .iter()
            .filter(|(p, _)| provider.is_none_or(|want| *p == want))
            .collect();
        if entries.is_empty() {
            return Err(ApiError::invalid_param(
                "provider",
                format!(
                    "customer {} has no id at {}",
                    quoted(alias),
                    provider.map_or("any provider".into(), |p| p.to_string())
                ),
            ));
        }
        // With several providers and none named, one that cannot answer is skipped, not fatal.
        let may_skip = map.0.len() > 1 && provider.is_none();
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for (kind, id) in entries {
            if !self.may_see_customer(caller, *kind, id) {
                return Err(Self::customer_not_allowed(alias));
            }
            let usable = self
                .configured(caller, *kind, "customer")
                .and_then(|adapter| adapter.require(capability).map(|()| adapter));
            match usable {
                Ok(adapter) => targets.push(Target {
                    adapter,
                    customer_id: Some(id.clone()),
                }),
                Err(e) if may_skip => skipped.push(Skipped {
                    provider: *kind,
                    code: e.type_and_code().1,
                    message: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(Reach { targets, skipped })
    }

    /// A client's grant id → the adapter and the vendor id, checked for shape, from a
    /// provider the key may use that has `capability`.
    pub(super) fn grant_target<'a>(
        &self,
        caller: &Caller,
        id: &'a str,
        param: &str,
        capability: Capability,
    ) -> Result<(&dyn CreditsProvider, &'a str), ApiError> {
        let grant = GrantRef::parse(id, param)?;
        let adapter = self.configured(caller, grant.provider, param)?;
        adapter.require(capability)?;
        adapter
            .check_grant_id(grant.vendor_id)
            .map_err(|e| ApiError::invalid_param(param, e))?;
        Ok((adapter, grant.vendor_id))
    }
}

/// What each provider of a request answered. A provider of an alias that failed is left
/// out (named in `skipped`, the answer partial) unless the client asked for all or
/// nothing; if none answered, the first failure is the answer.
pub(super) struct Gathered<T> {
    pub answers: Vec<T>,
    pub skipped: Vec<Skipped>,
    pub partial: bool,
}

pub(super) async fn gather<'a, T, F, Fut>(
    reach: Reach<'a>,
    require_all: bool,
    mut each: F,
) -> Result<Gathered<T>, ApiError>
where
    F: FnMut(Target<'a>) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let partial_ok = reach.targets.len() > 1 && !require_all;
    let mut skipped = reach.skipped;
    let mut answers = Vec::new();
    let mut first_failure = None;
    for target in reach.targets {
        let provider = target.adapter.kind();
        match each(target).await {
            Ok(answer) => answers.push(answer),
            Err(e) if partial_ok && e.is_a_providers_failure() => {
                skipped.push(Skipped {
                    provider,
                    code: e.type_and_code().1,
                    message: e.to_string(),
                });
                first_failure.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_failure {
        Some(e) if answers.is_empty() => Err(e),
        failed => Ok(Gathered {
            answers,
            skipped,
            partial: failed.is_some(),
        }),
    }
}

/// The customer id a balance or history target is about.
pub(super) fn target_customer(target: &Target<'_>) -> Result<String, ApiError> {
    target
        .customer_id
        .clone()
        .ok_or_else(|| ApiError::Internal("a customer's target without a customer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_refs_parse() {
        assert_eq!(
            CustomerRef::parse("stripe:cus_1", "customer").unwrap(),
            CustomerRef::Qualified {
                provider: ProviderKind::Stripe,
                id: "cus_1".into()
            }
        );
        assert_eq!(
            CustomerRef::parse("acme", "customer").unwrap(),
            CustomerRef::Alias("acme".into())
        );
        let err = CustomerRef::parse("paypal:x", "customer").unwrap_err();
        assert!(err.to_string().contains("unknown provider `paypal`"), "{err}");
        assert!(CustomerRef::parse("", "customer").is_err());
    }

    #[test]
    fn grant_refs_need_a_provider_prefix() {
        let grant = GrantRef::parse("togai:cred.1", "id").unwrap();
        assert_eq!((grant.provider, grant.vendor_id), (ProviderKind::Togai, "cred.1"));
        let err = GrantRef::parse("cred.1", "id").unwrap_err();
        assert!(err.to_string().contains("not a creditgate grant id"), "{err}");
    }
}
