//! `s2sd archive conversation`: saves an IM transcript as a mail item in the user's archive folder
//! on the Exchange partner (Exchange archiving), acting for the user.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::{Printer, now, rfc3339};
use crate::connectivity;
use crate::store::Store;

/// Largest transcript accepted.
const MAX_TRANSCRIPT_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Save an IM transcript (a text file) as a mail item in the user's archive.
    Conversation {
        /// The user: sip:user@domain.
        #[arg(long)]
        sip_uri: String,
        /// The transcript, a UTF-8 text file.
        #[arg(long)]
        transcript: PathBuf,
        /// The subject (default: "Conversation archived <time>").
        #[arg(long)]
        subject: Option<String>,
        /// The EWS URL (default: from the Exchange partner).
        #[arg(long)]
        target: Option<String>,
    },
}

pub async fn run(cmd: Cmd, store: &Arc<dyn Store>, out: &Printer) -> anyhow::Result<ExitCode> {
    let Cmd::Conversation { sip_uri, transcript, subject, target } = cmd;
    let size = std::fs::metadata(&transcript).with_context(|| format!("cannot read {}", transcript.display()))?.len();
    if size > MAX_TRANSCRIPT_BYTES {
        bail!("{} is {size} bytes; transcripts are at most {MAX_TRANSCRIPT_BYTES} bytes", transcript.display());
    }
    let text =
        std::fs::read_to_string(&transcript).with_context(|| format!("{} is not UTF-8 text", transcript.display()))?;
    let now = now();
    let subject = subject.unwrap_or_else(|| format!("Conversation archived {}", rfc3339(now)));
    let session =
        connectivity::open(store.as_ref(), &sip_uri, target.as_deref(), None, now).await.map_err(explained)?;
    let id = connectivity::archive_conversation(&session, &subject, &text).await.map_err(explained)?;
    out.emit(
        format!("Transcript archived for {sip_uri} in the archive folder on {}: \"{subject}\".", session.target.url),
        serde_json::json!({"archived": true, "subject": subject, "item_id": id, "target": session.target}),
    );
    Ok(ExitCode::SUCCESS)
}

/// A connectivity error with its diagnosis, as one message.
pub(super) fn explained(e: connectivity::ConnectivityError) -> anyhow::Error {
    let d = connectivity::diagnose(&e, None);
    anyhow::anyhow!("{e} — {}; fix: {}", d.cause, d.fix)
}
