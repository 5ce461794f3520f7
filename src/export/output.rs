//! The export's output file: NDJSON lines or CSV rows, counting the bytes written (the
//! checkpoint records how many are whole).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{io, Format, ToolError};
use crate::model::{CreditBalance, CreditGrant, LedgerEntry, Money};

/// The output file, counting the bytes written.
pub(super) struct Output {
    pub out: BufWriter<File>,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
}

impl Output {
    pub(super) fn raw(&mut self, bytes: &[u8]) -> Result<(), ToolError> {
        self.out.write_all(bytes).map_err(io(&self.path))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<(), ToolError> {
        self.out.flush().map_err(io(&self.path))
    }

    fn json<T: Serialize>(&mut self, value: &T) -> Result<(), ToolError> {
        let mut line = serde_json::to_vec(value).map_err(|e| ToolError::Input(e.to_string()))?;
        line.push(b'\n');
        self.raw(&line)
    }

    fn csv(&mut self, fields: [&str; 14]) -> Result<(), ToolError> {
        let mut line = String::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if field.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&field.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(field);
            }
        }
        line.push('\n');
        self.raw(line.as_bytes())
    }

    pub(super) fn grant(&mut self, g: &CreditGrant) -> Result<(), ToolError> {
        if self.format == Format::Ndjson {
            return self.json(g);
        }
        let balance = g.balance.as_ref().map(|b| b.value.to_string()).unwrap_or_default();
        self.csv([
            g.object,
            &g.id,
            g.provider.as_str(),
            g.customer.as_deref().unwrap_or(""),
            "",
            "",
            g.status.as_str(),
            &g.amount.value.to_string(),
            &g.amount.unit,
            unit_type(&g.amount),
            &balance,
            &rfc3339(g.effective_at),
            &rfc3339(g.expires_at),
            &rfc3339(g.created_at),
        ])
    }

    pub(super) fn entry(&mut self, e: &LedgerEntry) -> Result<(), ToolError> {
        if self.format == Format::Ndjson {
            return self.json(e);
        }
        let balance = e
            .balance_after
            .as_ref()
            .map(|b| b.value.to_string())
            .unwrap_or_default();
        let kind = serde_json::to_value(e.entry_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.csv([
            e.object,
            &e.id,
            e.provider.as_str(),
            e.customer.as_deref().unwrap_or(""),
            e.grant.as_deref().unwrap_or(""),
            &kind,
            "",
            &e.amount.value.to_string(),
            &e.amount.unit,
            unit_type(&e.amount),
            &balance,
            &rfc3339(e.effective_at),
            "",
            &rfc3339(e.created_at),
        ])
    }

    pub(super) fn balance(&mut self, b: &CreditBalance) -> Result<(), ToolError> {
        if self.format == Format::Ndjson {
            return self.json(b);
        }
        self.csv([
            b.object,
            "",
            b.provider.as_str(),
            &b.customer,
            "",
            "",
            "",
            &b.available.value.to_string(),
            &b.available.unit,
            unit_type(&b.available),
            "",
            "",
            "",
            &rfc3339(Some(b.as_of)),
        ])
    }
}

fn unit_type(money: &Money) -> &'static str {
    match money.unit_type {
        crate::model::UnitType::Currency => "currency",
        crate::model::UnitType::Custom => "custom",
    }
}

fn rfc3339(t: Option<crate::model::Timestamp>) -> String {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
