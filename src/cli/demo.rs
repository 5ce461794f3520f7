//! `creditgate serve --demo` and `creditgate simulate`: the vendor simulators on loopback and
//! a gateway over them; with events wired (the simulators push their webhooks to the
//! gateway, which delivers its events to `creditgate listen`).

use std::net::SocketAddr;
use std::time::Duration;

use creditgate::{Config, Gateway};
use creditgate_sim::demo::{Demo, DEMO_ALIAS, DEMO_API_KEY};
use creditgate_sim::{SimOptions, Simulator, Vendor};

use super::{banner, bind, serve};

/// Where the demo's gateway delivers its events: `creditgate listen`'s default address.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8788";

/// How the demo runs beyond its data.
pub struct DemoRun<'a> {
    pub listen: &'a str,
    pub redis: Option<&'a str>,
    pub replicas: u16,
    /// Simulated usage: every this long, each customer consumes a little.
    pub usage_every: Option<Duration>,
}

pub async fn demo(run: DemoRun<'_>, options: SimOptions) -> Result<(), String> {
    let DemoRun {
        listen,
        redis,
        replicas,
        usage_every,
    } = run;
    let listener = bind(listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut demo = Demo::start(&options)
        .await
        .map_err(|e| format!("cannot start the simulators: {e}"))?;
    let endpoint_secret = demo
        .enable_events(&format!("http://{LISTEN_DEFAULT}/"))
        .map_err(|e| format!("cannot write the demo's webhook secrets: {e}"))?;
    let config_path = match redis {
        Some(url) => demo.write_shared_config(&addr.to_string(), url),
        None => demo.write_config(&addr.to_string(), None),
    }
    .map_err(|e| format!("cannot write the demo config: {e}"))?;
    // The other replicas: this same binary serving the same config, each a process of its own.
    let others: Vec<ChildProcess> = (1..replicas)
        .map(|i| {
            let listen = SocketAddr::new(addr.ip(), addr.port().saturating_add(i));
            std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
                .args(["serve", "--config"])
                .arg(&config_path)
                .env("CREDITGATE_LISTEN", listen.to_string())
                .spawn()
                .map(ChildProcess)
                .map_err(|e| format!("cannot start replica {i}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    let gateway = Gateway::from_config(&config).map_err(|e| e.to_string())?;
    let mut text = format!(
        "creditgate demo: {} simulated vendors on loopback (seed {})\n",
        demo.simulators.len(),
        options.seed
    );
    for (simulator, running) in &demo.simulators {
        text += &format!(
            "  {:<10} {}  customer 0 = {}\n",
            simulator.vendor().as_str(),
            running.base_url(),
            simulator.customer_id(0)
        );
    }
    text += &format!("config: {} (removed when the demo stops)\n", config_path.display());
    if let Some(url) = redis {
        let ports: Vec<String> = (0..replicas).map(|i| (addr.port() + i).to_string()).collect();
        text += &format!(
            "{replicas} gateway process(es) sharing Redis at {url}, on ports {}\n",
            ports.join(", ")
        );
    }
    text += &format!(
        "Console: http://{addr}/console in a browser; sign in with the API key {DEMO_API_KEY}, \
         then open customer `{DEMO_ALIAS}`.\n"
    );
    text += &format!("API key: {DEMO_API_KEY}; customer alias `{DEMO_ALIAS}` is customer 0 at every vendor. Try:\n");
    let curl = format!("  curl -s -H 'Authorization: Bearer {DEMO_API_KEY}' 'http://{addr}/v1");
    text += &format!("{curl}/credit_balances?customer={DEMO_ALIAS}'\n");
    text += &format!("{curl}/credit_ledger_entries?customer={DEMO_ALIAS}&limit=5'\n");
    text += &format!(
        "{curl}/credit_grants' -H 'Idempotency-Key: demo-grant-1' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"customer\": \"stripe:{}\", \"amount\": {{\"value\": \"25.00\", \"unit\": \"USD\"}}, \"name\": \"Welcome credits\"}}'\n",
        demo.simulator(Vendor::Stripe).customer_id(0)
    );
    let (from, to) = (
        format!("stripe:{}", demo.simulator(Vendor::Stripe).customer_id(0)),
        format!("togai:{}", demo.simulator(Vendor::Togai).customer_id(0)),
    );
    let tool = format!("cargo run --release -q -- {{}} --config {}", config_path.display());
    let run = |args: &str| tool.replace("{}", args);
    text += "Move customer 0's Stripe credits to Togai (in another terminal, while this runs):\n";
    text += &format!(
        "  {}\n",
        run(&format!("export --customer {from} --out stripe-credits.ndjson"))
    );
    text += &format!(
        "  {}\n",
        run(&format!("migrate plan --from {from} --to {to} --out plan.json"))
    );
    text += &format!("  {}\n", run("migrate apply plan.json"));
    text += &format!("  {}\n", run(&format!("reconcile --from {from} --to {to}")));
    text += &format!(
        "Events (credit changes, signed per Standard Webhooks): in another terminal run\n  \
         cargo run --release -q -- listen --secret file:{}\n",
        endpoint_secret.display()
    );
    // An example alert a few units under customer 0's balance at the start.
    let stripe = demo.simulator(Vendor::Stripe);
    let threshold = stripe
        .truth(0)
        .balances
        .get("USD")
        .map_or(rust_decimal::Decimal::ZERO, |b| {
            (b - rust_decimal::Decimal::from(3))
                .max(rust_decimal::Decimal::ZERO)
                .round_dp(2)
        });
    text += &format!(
        "then make a low-balance alert a little under the balance /v1/credit_balances shows (this one is 3 under \
         the balance at the start); usage (--usage-every) takes the balance under it:\n{curl}/balance_alerts' \
         -H 'Content-Type: application/json' \\\n    -d '{{\"customer\": \"stripe:{}\", \"unit\": \"USD\", \"threshold\": \"{threshold}\"}}'\n",
        stripe.customer_id(0)
    );
    text += "For your own app, in a config: [[webhook_endpoints]] url = \"https://…\", secret = \"env:…\" \
               (README.md, \"Events\").\n";
    let _pushes = demo.push_to_gateway(&format!("http://{addr}"));
    let _usage: Vec<_> = usage_every
        .map(|every| {
            demo.simulators
                .iter()
                .map(|(simulator, _)| simulator.start_usage(every, 100))
                .collect()
        })
        .unwrap_or_default();
    if let Some(every) = usage_every {
        text += &format!(
            "Simulated usage: every customer consumes 100 minor units every {} s.\n",
            every.as_secs()
        );
    } else {
        text += "Balances move on their own with `--usage-every 10` (seconds).\n";
    }
    banner(&text);
    let served = serve(gateway, listener, &config.server).await;
    drop(others);
    served
}

/// A replica the demo started: stopped with the demo.
struct ChildProcess(std::process::Child);

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn simulate(vendor: Vendor, port: u16, options: SimOptions) -> Result<(), String> {
    let simulator = Simulator::new(vendor, options);
    let running = simulator
        .spawn(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e}"))?;
    banner(&format!(
        "{vendor} simulator on {}\n  base_url: {}{}\n  credential: {}\n  customer 0: {}\n",
        running.base_url(),
        running.base_url(),
        vendor.base_path(),
        simulator.credential(),
        simulator.customer_id(0)
    ));
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
