//! Which vendor events were received: on disk in the store, or in Redis across replicas,
//! each id once for [`VENDOR_EVENT_RETENTION`], so a vendor's redelivery is known for one.

use std::time::SystemTime;

use super::records::{on_disk, Records};
use crate::model::ProviderKind;
use crate::store::{StoreError, VENDOR_EVENT_RETENTION};

impl Records {
    /// Records vendor event `id` of `provider`, durably before it returns (on disk: a
    /// committed transaction; in Redis: an acknowledged `SET NX`): `true` if it is new.
    pub async fn record_vendor_event(&self, provider: ProviderKind, id: &str) -> Result<bool, StoreError> {
        match self {
            Records::Disk(store) => {
                on_disk(store, provider.as_str(), id, |store, provider, id| {
                    store.record_vendor_event(provider, id, SystemTime::now())
                })
                .await
            }
            Records::Shared(shared) => {
                let key = shared.key("vendor_event", &format!("{provider}:{}", super::serial::digest(id)));
                let mut connection = shared.inner.manager.clone();
                let set: Option<String> = shared
                    .call(
                        "vendor event",
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(1)
                            .arg("NX")
                            .arg("EX")
                            .arg(VENDOR_EVENT_RETENTION.as_secs())
                            .query_async(&mut connection),
                    )
                    .await?;
                Ok(set.is_some())
            }
        }
    }
}
