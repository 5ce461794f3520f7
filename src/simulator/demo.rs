//! `creditgate serve --demo`: the five simulators on loopback, a gateway configured for
//! them with a demo API key, and the alias `acme` mapped to simulated customer 0 at every
//! vendor. The end-to-end tests start the same thing.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::{vayu, RunningSimulator, SimOptions, Simulator};
use crate::config::Config;
use crate::model::ProviderKind;
use crate::secret::{Secret, SecretRef};

/// The API key the demo gateway accepts.
pub const DEMO_API_KEY: &str = "cg_demo_key";
/// The alias mapped across all five simulated vendors.
pub const DEMO_ALIAS: &str = "acme";

/// The simulators a demo runs, serving until dropped.
#[derive(Debug)]
pub struct Demo {
    pub simulators: Vec<(Simulator, RunningSimulator)>,
}

impl Demo {
    /// Starts one simulator per vendor on free loopback ports.
    pub async fn start(options: &SimOptions) -> std::io::Result<Demo> {
        let mut simulators = Vec::new();
        for vendor in ProviderKind::ALL {
            let simulator = Simulator::new(vendor, options.clone());
            let running = simulator.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            simulators.push((simulator, running));
        }
        Ok(Demo { simulators })
    }

    /// [`Demo::config`] with every gateway-side limit lifted (the outbound pace and the
    /// per-key quota), for simulators started with `RateLimit::Off`: the end-to-end tests
    /// and the benchmarks, which send far more than any vendor allows.
    pub fn unthrottled_config(&self, listen: &str, page_size: Option<usize>) -> Config {
        let mut config = self.config(listen, page_size);
        config.upstream.unpaced();
        config.inbound.requests_per_second = 1_000_000;
        config.inbound.burst = 1_000_000;
        config
    }

    pub fn simulator(&self, vendor: ProviderKind) -> &Simulator {
        &self
            .simulators
            .iter()
            .find(|(s, _)| s.vendor() == vendor)
            .expect("one per vendor")
            .0
    }

    /// A gateway config over the simulators. `page_size`, when given, is every vendor's
    /// page size (small ones make walks cross many vendor pages).
    pub fn config(&self, listen: &str, page_size: Option<usize>) -> Config {
        let page = page_size.map(|n| format!("page_size = {n}\n")).unwrap_or_default();
        let url = |vendor: ProviderKind| {
            let (_, running) = self
                .simulators
                .iter()
                .find(|(s, _)| s.vendor() == vendor)
                .expect("one per vendor");
            running.base_url()
        };
        let id = |vendor: ProviderKind| self.simulator(vendor).customer_id(0);
        let key_sha256: String = Sha256::digest(DEMO_API_KEY.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Secrets are placeholders here and handed over below: the demo writes none to disk.
        let text = format!(
            r#"
listen = "{listen}"
cursor_secret = "env:DEMO"

[[api_keys]]
name = "demo"
key_sha256 = "{key_sha256}"

[providers.stripe]
base_url = "{stripe}"
secret = "env:DEMO"
{page}
[providers.metronome]
base_url = "{metronome}"
secret = "env:DEMO"
{page}
[providers.sequence]
base_url = "{sequence}/api"
secret = "env:DEMO"
{page}
[providers.togai]
base_url = "{togai}"
secret = "env:DEMO"
{page}
[providers.vayu]
base_url = "{vayu_url}"
secret = "env:DEMO"
unit = "{vayu_unit}"
{page}
[customers.{DEMO_ALIAS}]
stripe = "{stripe_id}"
metronome = "{metronome_id}"
sequence = "{sequence_id}"
togai = "{togai_id}"
vayu = "{vayu_id}"
"#,
            stripe = url(ProviderKind::Stripe),
            metronome = url(ProviderKind::Metronome),
            sequence = url(ProviderKind::Sequence),
            togai = url(ProviderKind::Togai),
            vayu_url = url(ProviderKind::Vayu),
            vayu_unit = vayu::UNIT,
            stripe_id = id(ProviderKind::Stripe),
            metronome_id = id(ProviderKind::Metronome),
            sequence_id = id(ProviderKind::Sequence),
            togai_id = id(ProviderKind::Togai),
            vayu_id = id(ProviderKind::Vayu),
        );
        let mut config = Config::from_toml_str(&text).expect("the demo config is valid");
        let given = |vendor: ProviderKind| SecretRef::Given(Secret::new(self.simulator(vendor).credential()));
        let seed = self.simulators[0].0.state.book.seed;
        config.cursor_secret = SecretRef::Given(Secret::new(format!("demo-cursor-secret-{seed:x}")));
        let providers = &mut config.providers;
        let set = |slot: Option<&mut SecretRef>, vendor| *slot.expect("configured above") = given(vendor);
        set(providers.stripe.as_mut().map(|p| &mut p.secret), ProviderKind::Stripe);
        set(
            providers.metronome.as_mut().map(|p| &mut p.secret),
            ProviderKind::Metronome,
        );
        set(
            providers.sequence.as_mut().map(|p| &mut p.secret),
            ProviderKind::Sequence,
        );
        set(providers.togai.as_mut().map(|p| &mut p.secret), ProviderKind::Togai);
        set(providers.vayu.as_mut().map(|p| &mut p.secret), ProviderKind::Vayu);
        config
    }
}
