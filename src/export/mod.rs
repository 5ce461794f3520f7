//! `creditgate export`: every grant, ledger entry and balance of some customers, normalized,
//! to an NDJSON or CSV file (README.md, "Migrating between vendors").
//!
//! It is a client of the same listings the HTTP API serves ([`Gateway`]'s list calls, one
//! page of at most 500 at a time), so what it writes is what `/v1` answers. Memory stays flat:
//! a page is written and dropped before the next is asked for. After each page the output
//! is flushed and a checkpoint (customer, section, the page's `next_cursor`, the output's
//! length) is written beside it atomically (a temp file renamed over it); `--resume` cuts
//! the output back to that length and continues from that cursor, so no line is lost or
//! written twice however the run was stopped.

mod fetch;
mod output;

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::gateway::{Caller, Gateway, GrantsQuery};
use crate::model::ProviderKind;
use crate::paging::Limit;
use crate::upstream::CacheUse;
use fetch::{fetch, Fetched, Items, Position};
use output::Output;

/// The output's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One normalized object per line (`"object"` says which kind).
    Ndjson,
    /// One row per object under a fixed header.
    Csv,
}

/// Why a tool command failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Input(String),
    #[error("{what}: {error}")]
    Api { what: String, error: ApiError },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |source| ToolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What the tools report as they go (a progress bar on a terminal, lines otherwise).
pub trait Progress: Sync {
    /// `n` more objects done.
    fn advance(&self, n: u64);
    /// A line worth saying now.
    fn say(&self, line: &str);
}

/// Progress that goes nowhere (tests, libraries).
pub struct Silent;

impl Progress for Silent {
    fn advance(&self, _n: u64) {}
    fn say(&self, _line: &str) {}
}

/// Which customers to export.
#[derive(Debug, Clone)]
pub enum Customers {
    /// References (`provider:id` or aliases), in order.
    Listed(Vec<String>),
    /// Every customer with a grant in the provider's account (where it lists the account).
    AllOf(ProviderKind),
}

/// One export run.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub customers: Customers,
    pub out: PathBuf,
    pub format: Format,
    pub resume: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub customers: usize,
    pub grants: u64,
    pub ledger_entries: u64,
    pub balances: u64,
}

/// The parts of a customer's export, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Section {
    Grants,
    Ledger,
    Balances,
}

/// Where an interrupted export stands: everything before `bytes` of the output is whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    /// The run it belongs to: a digest of the customers and the format.
    run: String,
    customers: Vec<String>,
    customer: usize,
    section: Section,
    cursor: Option<String>,
    bytes: u64,
    summary: Counts,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Counts {
    grants: u64,
    ledger_entries: u64,
    balances: u64,
}

/// The CSV columns, one row per grant, entry or balance.
const CSV_HEADER: &str =
    "object,id,provider,customer,grant,type,status,amount,unit,unit_type,balance,effective_at,expires_at,created_at\n";

/// The checkpoint kept beside an export's output while it runs (`OUT.checkpoint`).
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

fn run_id(customers: &[String], format: Format) -> String {
    let mut digest = Sha256::new();
    for c in customers {
        digest.update(c.as_bytes());
        digest.update([0]);
    }
    digest.update(format!("{format:?}").as_bytes());
    crate::hex::lower(&digest.finalize()[..8])
}

/// The caller the tools act as: every provider and customer of the config.
pub fn tool_caller() -> Caller {
    Caller::unrestricted("creditgate-cli")
}

/// Runs an export; see the module comment.
pub async fn export(
    gateway: &Gateway,
    request: &ExportRequest,
    progress: &dyn Progress,
) -> Result<ExportSummary, ToolError> {
    let caller = tool_caller();
    let checkpoint_file = checkpoint_path(&request.out);
    // A link, dangling or not, counts as there: it is refused, never followed.
    let existing = std::fs::symlink_metadata(&request.out).is_ok();
    let saved: Option<Checkpoint> = if request.resume && checkpoint_file.exists() {
        let text = std::fs::read_to_string(&checkpoint_file).map_err(io(&checkpoint_file))?;
        Some(
            serde_json::from_str(&text)
                .map_err(|e| ToolError::Input(format!("{} is not a checkpoint: {e}", checkpoint_file.display())))?,
        )
    } else {
        None
    };
    if !existing && saved.is_some() {
        return Err(ToolError::Input(format!(
            "{} has a checkpoint but is missing; remove {} to start again",
            request.out.display(),
            checkpoint_file.display()
        )));
    }
    if existing && saved.is_none() {
        return Err(ToolError::Input(format!(
            "{} exists{}; remove it, or pass --resume to continue the export that wrote it",
            request.out.display(),
            if request.resume {
                " but has no checkpoint beside it (the export finished, or it is another file)"
            } else {
                ""
            }
        )));
    }
    let customers = match (&saved, &request.customers) {
        (Some(c), _) => c.customers.clone(),
        (None, Customers::Listed(list)) => list.clone(),
        (None, Customers::AllOf(provider)) => account_customers(gateway, &caller, *provider, progress).await?,
    };
    let run = run_id(&customers, request.format);
    if let Some(c) = &saved {
        let asked = match &request.customers {
            Customers::Listed(list) => run_id(list, request.format),
            Customers::AllOf(_) => run.clone(),
        };
        if c.run != run || asked != run {
            return Err(ToolError::Input(format!(
                "{} belongs to an export of other customers or another format; remove both files to start again",
                checkpoint_file.display()
            )));
        }
    }
    // The output: cut back to the last checkpoint, or new.
    // New: created, never through a link; resumed: reopened, refusing a link.
    let file = if saved.is_some() {
        crate::files::open_existing(&request.out)
    } else {
        crate::files::create_new(&request.out)
    }
    .map_err(io(&request.out))?;
    let mut state = saved.unwrap_or(Checkpoint {
        run,
        customers: customers.clone(),
        customer: 0,
        section: Section::Grants,
        cursor: None,
        bytes: 0,
        summary: Counts::default(),
    });
    // Resuming needs the output as the checkpoint left it: at least as long as the part it
    // vouches for (a missing or cut output would leave a gap of zeros).
    let length = file.metadata().map_err(io(&request.out))?.len();
    if length < state.bytes {
        return Err(ToolError::Input(format!(
            "{} is shorter ({length} bytes) than its checkpoint says ({} bytes): it was changed or \
             replaced; remove it and {} to start again",
            request.out.display(),
            state.bytes,
            checkpoint_file.display()
        )));
    }
    file.set_len(state.bytes).map_err(io(&request.out))?;
    let mut writer = Output {
        out: BufWriter::with_capacity(1 << 20, file),
        path: request.out.clone(),
        format: request.format,
        bytes: state.bytes,
    };
    {
        use std::io::Seek;
        writer
            .out
            .get_mut()
            .seek(std::io::SeekFrom::Start(state.bytes))
            .map_err(io(&request.out))?;
    }
    if state.bytes == 0 && request.format == Format::Csv {
        writer.raw(CSV_HEADER.as_bytes())?;
    }
    if state.customer > 0 || state.cursor.is_some() || state.section != Section::Grants {
        progress.say(&format!(
            "resuming at customer {} of {} ({} objects already written)",
            state.customer + 1,
            customers.len(),
            state.summary.grants + state.summary.ledger_entries + state.summary.balances
        ));
        progress.advance(state.summary.grants + state.summary.ledger_entries + state.summary.balances);
    }
    // The page after the one being written, already asked for: the vendor makes it while
    // this task writes the current one (BENCHMARKS.md, "Export").
    let mut next_page: Option<tokio::task::JoinHandle<Result<Fetched, ToolError>>> = None;
    while state.customer < customers.len() {
        let fetched = match next_page.take() {
            Some(task) => task.await.map_err(|e| ToolError::Api {
                what: "a page fetch".into(),
                error: ApiError::Internal(format!("the fetch task ended: {e}")),
            })??,
            None => fetch(gateway, &caller, &position(&customers, &state)).await?,
        };
        // Where the next page is: later in this list, the next section, the next customer.
        match &fetched.next {
            Some(cursor) => state.cursor = Some(cursor.clone()),
            None => {
                state.cursor = None;
                state.section = match state.section {
                    Section::Grants => Section::Ledger,
                    Section::Ledger => Section::Balances,
                    Section::Balances => {
                        state.customer += 1;
                        Section::Grants
                    }
                };
            }
        }
        if state.customer < customers.len() {
            let (gateway, caller, at) = (gateway.clone(), caller.clone(), position(&customers, &state));
            next_page = Some(tokio::spawn(async move { fetch(&gateway, &caller, &at).await }));
        }
        let written = match fetched.items {
            Items::Grants(grants) => {
                for grant in &grants {
                    writer.grant(grant)?;
                }
                state.summary.grants += grants.len() as u64;
                grants.len()
            }
            Items::Ledger(entries) => {
                for entry in &entries {
                    writer.entry(entry)?;
                }
                state.summary.ledger_entries += entries.len() as u64;
                entries.len()
            }
            Items::Balances(balances) => {
                for balance in &balances {
                    writer.balance(balance)?;
                }
                state.summary.balances += balances.len() as u64;
                balances.len()
            }
        };
        progress.advance(written as u64);
        writer.flush()?;
        state.bytes = writer.bytes;
        save_checkpoint(&checkpoint_file, &state)?;
    }
    writer.flush()?;
    writer.out.get_ref().sync_all().map_err(io(&request.out))?;
    std::fs::remove_file(&checkpoint_file).map_err(io(&checkpoint_file))?;
    Ok(ExportSummary {
        customers: customers.len(),
        grants: state.summary.grants,
        ledger_entries: state.summary.ledger_entries,
        balances: state.summary.balances,
    })
}

/// The page the export is at.
fn position(customers: &[String], state: &Checkpoint) -> Position {
    Position {
        customer: customers[state.customer].clone(),
        section: state.section,
        cursor: state.cursor.clone(),
    }
}

/// Writes the checkpoint beside the output: a new temp file, then renamed over the old one
/// (`files::write_atomically`), so a reader sees the old checkpoint or the new one, never
/// half of one, and no link planted at either name is written through.
fn save_checkpoint(path: &Path, state: &Checkpoint) -> Result<(), ToolError> {
    let text = serde_json::to_vec(state).map_err(|e| ToolError::Input(e.to_string()))?;
    crate::files::write_atomically(path, &text).map_err(io(path))
}

/// Every customer with a grant in `provider`'s account, in the vendor's order, once each.
async fn account_customers(
    gateway: &Gateway,
    caller: &Caller,
    provider: ProviderKind,
    progress: &dyn Progress,
) -> Result<Vec<String>, ToolError> {
    let mut seen = std::collections::HashSet::new();
    let mut customers = Vec::new();
    let mut cursor = None;
    loop {
        let query = GrantsQuery {
            provider: Some(provider),
            limit: Limit::MAX,
            cursor,
            ..GrantsQuery::default()
        };
        let page = gateway
            .list_credit_grants(caller, &query, &CacheUse::new(false))
            .await
            .map_err(|error| ToolError::Api {
                what: format!("the customers of {provider}'s account"),
                error,
            })?;
        for grant in page.data {
            if let Some(customer) = grant.customer {
                if seen.insert(customer.clone()) {
                    customers.push(customer);
                }
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    progress.say(&format!("{} customers with grants at {provider}", customers.len()));
    Ok(customers)
}
