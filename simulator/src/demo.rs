//! `creditgate serve --demo`: a simulator of every vendor on loopback, and a creditgate config file
//! for them with a demo API key and the alias `acme` mapped to simulated customer 0 at every
//! vendor. The end-to-end tests and the benchmarks start the same thing.
//!
//! The config is an ordinary one: it names the simulators' credentials by `file:` reference,
//! and those files sit beside it in a private directory that lives as long as the [`Demo`].

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::{RunningSimulator, SimOptions, Simulator};
use crate::Vendor;

/// The API key the demo gateway accepts; it may read and write.
pub const DEMO_API_KEY: &str = "cg_demo_key";
/// The alias mapped across every simulated vendor.
pub const DEMO_ALIAS: &str = "acme";

/// The simulators a demo runs, serving until dropped, and the directory holding their
/// credentials (removed when dropped).
#[derive(Debug)]
pub struct Demo {
    pub simulators: Vec<(Simulator, RunningSimulator)>,
    dir: PrivateDir,
    seed: u64,
    /// With [`Self::enable_events`]: the endpoint the gateway delivers events to.
    endpoint: Option<String>,
}

/// The vendors whose simulators push webhooks (`push.rs`).
const PUSHING: [Vendor; 3] = [Vendor::Stripe, Vendor::Metronome, Vendor::Lago];

impl Demo {
    /// Starts one simulator per vendor on free loopback ports and writes each credential
    /// (and a cursor secret) to a file of its own.
    pub async fn start(options: &SimOptions) -> std::io::Result<Demo> {
        let mut simulators = Vec::new();
        for vendor in Vendor::ALL {
            let simulator = Simulator::new(vendor, options.clone());
            let running = simulator.spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            simulators.push((simulator, running));
        }
        let dir = PrivateDir::create()?;
        for (simulator, _) in &simulators {
            dir.write(&format!("{}.secret", simulator.vendor()), simulator.credential())?;
        }
        dir.write(
            "cursor.secret",
            &format!("demo-cursor-secret-{:016x}-0123456789", options.seed),
        )?;
        Ok(Demo {
            simulators,
            dir,
            seed: options.seed,
            endpoint: None,
        })
    }

    pub fn simulator(&self, vendor: Vendor) -> &Simulator {
        self.running(vendor).0
    }

    /// Where `vendor`'s simulator answers (`http://127.0.0.1:<port>`).
    pub fn base_url(&self, vendor: Vendor) -> String {
        self.running(vendor).1.base_url()
    }

    fn running(&self, vendor: Vendor) -> (&Simulator, &RunningSimulator) {
        self.simulators
            .iter()
            .find(|(s, _)| s.vendor() == vendor)
            .map(|(s, r)| (s, r))
            .expect("Demo::start starts one simulator per vendor")
    }

    /// The directory holding the demo's secrets and any config written by [`Self::write_config`].
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// A creditgate config (TOML) over the simulators, listening on `listen`. `page_size`,
    /// when given, is every vendor's page size (small ones make walks cross many vendor
    /// pages).
    pub fn config_toml(&self, listen: &str, page_size: Option<usize>) -> String {
        let page = page_size.map(|n| format!("page_size = {n}\n")).unwrap_or_default();
        let secret = |name: &str| format!("file:{}", self.dir().join(name).display());
        let key_sha256: String = Sha256::digest(DEMO_API_KEY.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut text = format!(
            "# creditgate over the local vendor simulators (seed {seed}).\n\
             listen = \"{listen}\"\n\
             cursor_secret = \"{cursor}\"\n\n\
             [[api_keys]]\nname = \"demo\"\nkey_sha256 = \"{key_sha256}\"\nscopes = [\"read\", \"write\"]\n\n\
             [store]\npath = \"{store}\"\n",
            seed = self.seed,
            cursor = secret("cursor.secret"),
            store = self.dir().join("idempotency.redb").display(),
        );
        for vendor in Vendor::ALL {
            let (_, running) = self.running(vendor);
            let pushes = match (&self.endpoint, self.push_secret(vendor)) {
                (Some(_), Some(_)) => format!("webhook_secret = \"{}\"\n", secret(&format!("{vendor}.webhook-secret"))),
                _ => String::new(),
            };
            let _ = write!(
                text,
                "\n[providers.{vendor}]\nbase_url = \"{}{}\"\nsecret = \"{}\"\n{page}{}{pushes}",
                running.base_url(),
                vendor.base_path(),
                secret(&format!("{vendor}.secret")),
                vendor.demo_config(),
            );
        }
        let _ = write!(text, "\n[customers.{DEMO_ALIAS}]\n");
        for vendor in Vendor::ALL {
            let _ = writeln!(text, "{vendor} = \"{}\"", self.simulator(vendor).customer_id(0));
        }
        if let Some(endpoint) = &self.endpoint {
            let _ = write!(
                text,
                "\n# Events to `creditgate listen`.\n[[webhook_endpoints]]\nurl = \"{endpoint}\"\nsecret = \"{}\"\n",
                secret("endpoint.whsec")
            );
        }
        text
    }

    /// The secret `vendor`'s simulator signs its webhooks with, where it pushes any.
    pub fn push_secret(&self, vendor: Vendor) -> Option<String> {
        PUSHING.contains(&vendor).then(|| match vendor {
            Vendor::Stripe => format!("whsec_demo_{:016x}", self.seed),
            Vendor::Lago => crate::book::uuid(self.seed, &[0x1A60, 0x5EC]),
            _ => format!("demo-{vendor}-webhook-secret-{:016x}", self.seed),
        })
    }

    /// From now on the config also takes the simulators' webhooks (each pushing vendor's
    /// `webhook_secret`) and delivers events to `endpoint_url`, signed with the secret in
    /// the file answered (`whsec_…`, for `creditgate listen --secret file:<it>`).
    pub fn enable_events(&mut self, endpoint_url: &str) -> std::io::Result<PathBuf> {
        use base64::Engine;
        for vendor in PUSHING {
            if let Some(secret) = self.push_secret(vendor) {
                self.dir.write(&format!("{vendor}.webhook-secret"), &secret)?;
            }
        }
        let key: Vec<u8> = (0..4u64)
            .flat_map(|n| crate::book::mix(self.seed, &[0xE5D, n]).to_be_bytes())
            .collect();
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key));
        let path = self.dir.write("endpoint.whsec", &secret)?;
        self.endpoint = Some(endpoint_url.to_owned());
        Ok(path)
    }

    /// Makes every pushing simulator push to the gateway at `gateway` (`http://host:port`);
    /// the pushes stop when the answered tasks are aborted or the runtime ends.
    pub fn push_to_gateway(&self, gateway: &str) -> Vec<tokio::task::JoinHandle<()>> {
        PUSHING
            .iter()
            .filter_map(|vendor| {
                let secret = self.push_secret(*vendor)?;
                Some(
                    self.simulator(*vendor)
                        .push_to(&format!("{gateway}/v1/vendor_webhooks/{vendor}"), &secret),
                )
            })
            .collect()
    }

    /// Writes [`Self::config_toml`] to `creditgate.toml` in the demo's directory.
    pub fn write_config(&self, listen: &str, page_size: Option<usize>) -> std::io::Result<PathBuf> {
        self.dir.write("creditgate.toml", &self.config_toml(listen, page_size))
    }

    /// Writes [`Self::config_toml`] with a `[redis]` section for `redis_url` (itself in a
    /// file of the demo's directory, as a secret): the config several replicas share.
    pub fn write_shared_config(&self, listen: &str, redis_url: &str) -> std::io::Result<PathBuf> {
        let url = self.dir.write("redis.url", redis_url)?;
        let text = format!(
            "{}\n[redis]\nurl = \"file:{}\"\n",
            self.config_toml(listen, None),
            url.display()
        );
        self.dir.write("creditgate.toml", &text)
    }
}

/// A directory only this user can read, removed on drop.
#[derive(Debug)]
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> std::io::Result<PrivateDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "creditgate-demo-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path)?;
        Ok(PrivateDir(path))
    }

    fn write(&self, name: &str, contents: &str) -> std::io::Result<PathBuf> {
        let path = self.0.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(contents.as_bytes())?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
