//! What the tools show while they run: a bar on a terminal, a plain line every few
//! seconds otherwise (a log, CI).

use std::time::Duration;

use creditgate::export;

/// Progress: a bar on a terminal; otherwise a plain line every few seconds.
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
    done: std::sync::atomic::AtomicU64,
    started: std::time::Instant,
    last_line: std::sync::Mutex<std::time::Instant>,
    verb: &'static str,
    noun: &'static str,
}

impl Bar {
    pub fn new(verb: &'static str, noun: &'static str) -> Bar {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let style = indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {verb} {{pos}} {noun} ({{per_sec}}, {{elapsed}}) {{msg}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Bar {
            bar,
            done: Default::default(),
            started: std::time::Instant::now(),
            last_line: std::sync::Mutex::new(std::time::Instant::now()),
            verb,
            noun,
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl export::Progress for Bar {
    fn advance(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= Duration::from_secs(5) {
            *last = std::time::Instant::now();
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            eprintln!("{} {done} {} ({rate:.0}/s)", self.verb, self.noun);
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}
