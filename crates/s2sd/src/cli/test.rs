//! `s2sd test storage-connectivity`: Test-CsExStorageConnectivity — open the user's Conversation
//! History folder on the Exchange partner over EWS as that user, write an item, optionally delete it,
//! each step timed; a failure prints its diagnosis. Exit code 0 pass, 1 fail.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use super::{Printer, now};
use crate::connectivity::{self, StorageTest};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Prove that the Exchange partner accepts our tokens for a user (Test-CsExStorageConnectivity).
    StorageConnectivity {
        /// The user: sip:user@domain.
        #[arg(long)]
        sip_uri: String,
        /// Delete the test item afterwards.
        #[arg(long)]
        delete_item: bool,
        /// The EWS URL (default: from the Exchange partner's metadata URL or the autodiscover URL).
        #[arg(long)]
        target: Option<String>,
        /// Trust this PEM CA for the target's TLS (default: the partner's --tls-ca, else the system's).
        #[arg(long)]
        tls_ca: Option<PathBuf>,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    let Cmd::StorageConnectivity { sip_uri, delete_item, target, tls_ca } = cmd;
    let tls_ca =
        tls_ca.map(|p| std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))).transpose()?;
    let test = StorageTest { sip_uri: sip_uri.clone(), delete_item, target, tls_ca };
    let report = connectivity::test_storage(store.as_ref(), &test, now()).await;
    let mut text = format!("Storage connectivity test for {sip_uri}");
    if let Some(t) = &report.target {
        text.push_str(&format!("\nTarget: {} (partner {}, found by {})", t.url, t.partner, t.found_by));
    }
    for s in &report.steps {
        text.push_str(&format!(
            "\n  [{}] {:<52} {:>6} ms  {}",
            if s.ok { "ok" } else { "!!" },
            s.name,
            s.millis,
            s.detail
        ));
    }
    text.push_str(if report.passed { "\nResult: PASS" } else { "\nResult: FAIL" });
    if let Some(d) = &report.diagnosis {
        text.push_str(&format!("\nCause: {}\nFix:   {}", d.cause, d.fix));
    }
    out.emit(text, serde_json::to_value(&report)?);
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
