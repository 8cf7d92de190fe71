//! Commands on our token-issuer certificates (`Set-CsCertificate -Type OAuthTokenIssuer [-Roll
//! -EffectiveDate]`, `Set-AuthConfig -NewCertificateThumbprint`): installing a current
//! certificate, staging the next one for a rollover, removing one. Each decides on the
//! certificates as they are inside its transaction, so a rollover is checked against the
//! current certificate it will follow.

use super::{Action, Admin, AdminError, Change, shown};
use crate::store::{CertificateRecord, CertificateRole};
use crate::timestamp::rfc3339;

/// Partners need this long to read a staged certificate from our metadata.
const MIN_LEAD_SECONDS: i64 = 48 * 3600;

/// Makes a certificate (generated or imported, with its key) the current one.
#[derive(Debug, Clone)]
pub struct InstallCertificate {
    pub record: CertificateRecord,
}

/// Stages the next certificate: published at once, signing from `record.effective_at`.
#[derive(Debug, Clone)]
pub struct StageRollover {
    pub record: CertificateRecord,
    /// Accept less than 48 h of lead time, or a current certificate that expires first.
    pub force: bool,
}

/// Which certificate to stop publishing.
#[derive(Debug, Clone)]
pub enum RemoveCertificate {
    Previous,
    Thumbprint(String),
}

impl Admin {
    /// Installs a current certificate; the current one becomes previous.
    pub async fn install_certificate(&self, cmd: InstallCertificate) -> Result<Change, AdminError> {
        let mut tx = self.begin().await?;
        let before = tx.certificates().await?;
        let current = before.iter().find(|c| c.role == CertificateRole::Current).map(|c| c.thumbprint.clone());
        tx.install_current_certificate(&cmd.record).await?;
        let mut change = Change::new("certificate", cmd.record.thumbprint.clone(), Action::Created);
        change.field("current", current.clone(), shown(&cmd.record.thumbprint));
        if let Some(previous) = current {
            change.field("previous", None, Some(previous));
        }
        Self::finish(tx, change).await
    }

    /// Stages the next certificate after checking it against the clock and the current one.
    pub async fn stage_rollover(&self, cmd: StageRollover, now: i64) -> Result<Change, AdminError> {
        let record = cmd.record;
        let invalid = |reason: String| AdminError::Invalid { option: "--effective-date", reason };
        let effective =
            record.effective_at.ok_or_else(|| invalid("a staged certificate needs an effective date".into()))?;
        if effective >= record.not_after {
            return Err(invalid(format!(
                "the new certificate expires on {}, before its effective date {}",
                rfc3339(record.not_after),
                rfc3339(effective)
            )));
        }
        if effective < record.not_before {
            return Err(invalid(format!(
                "the new certificate is not valid before {}, after its effective date {}",
                rfc3339(record.not_before),
                rfc3339(effective)
            )));
        }
        let lead = effective - now;
        if lead < MIN_LEAD_SECONDS && !cmd.force {
            return Err(invalid(format!(
                "the effective date is only {} h away: partners read our metadata on their own schedule and need at least 48 h to learn the new certificate before it signs (pass --force to stage it anyway)",
                lead.max(0) / 3600
            )));
        }
        let mut tx = self.begin().await?;
        let certificates = tx.certificates().await?;
        if let Some(current) = certificates.iter().find(|c| c.role == CertificateRole::Current)
            && current.not_after < effective
            && !cmd.force
        {
            return Err(invalid(format!(
                "the current certificate expires on {}, before the effective date {}: our tokens would be refused in between (choose an earlier date, or --force)",
                rfc3339(current.not_after),
                rfc3339(effective)
            )));
        }
        let replaced = certificates.iter().find(|c| c.role == CertificateRole::Next).map(|c| c.thumbprint.clone());
        tx.stage_next_certificate(&record).await?;
        let mut change = Change::new("certificate", record.thumbprint.clone(), Action::Changed);
        change.field("next", replaced, shown(&record.thumbprint));
        change.field("effective", None, shown(rfc3339(effective)));
        Self::finish(tx, change).await
    }

    /// Stops publishing a certificate; the current one cannot be removed.
    pub async fn remove_certificate(&self, cmd: RemoveCertificate) -> Result<(Change, CertificateRecord), AdminError> {
        let mut tx = self.begin().await?;
        let certificates = tx.certificates().await?;
        let target = match &cmd {
            RemoveCertificate::Previous => {
                certificates.iter().find(|c| c.role == CertificateRole::Previous).ok_or(AdminError::Invalid {
                    option: "--previous",
                    reason: "there is no previous certificate".into(),
                })?
            }
            RemoveCertificate::Thumbprint(t) => certificates
                .iter()
                .find(|c| c.thumbprint.eq_ignore_ascii_case(t))
                .ok_or_else(|| AdminError::Invalid {
                    option: "--thumbprint",
                    reason: format!("no certificate with thumbprint {t} (see s2sd certificate list)"),
                })?,
        }
        .clone();
        if target.role == CertificateRole::Current {
            return Err(AdminError::Invalid {
                option: "--thumbprint",
                reason: format!(
                    "{} is the current certificate and signs our tokens; install another first (s2sd certificate new)",
                    target.thumbprint
                ),
            });
        }
        tx.remove_certificate(&target.thumbprint).await?;
        let mut change = Change::new("certificate", target.thumbprint.clone(), Action::Removed);
        change.field(target.role.as_str(), shown(&target.thumbprint), None);
        Ok((Self::finish(tx, change).await?, target))
    }
}
