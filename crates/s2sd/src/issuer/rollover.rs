//! Rollover rules a running node applies on its own: promote the next certificate once its
//! effective date has come (the current one becomes previous and stays published until it
//! expires), and, when automatic renewal is on, create and stage a new self-signed certificate
//! when the current one nears expiry. Every change is one store write; several nodes may race
//! harmlessly (the store serialises writes).

use time::OffsetDateTime;

use super::certificate::{self, CertificateError};
use crate::store::{CertificateRecord, CertificateRole, Store, StoreError};

/// What a maintenance pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The next certificate became current.
    Promoted {
        /// Its thumbprint.
        thumbprint: String,
    },
    /// A new certificate was staged by automatic renewal.
    Staged {
        /// Its thumbprint.
        thumbprint: String,
        /// When it starts signing.
        effective_at: i64,
    },
}

/// Why a maintenance pass failed.
#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Generating the renewal certificate failed.
    #[error("automatic renewal could not create a certificate: {0}")]
    Generate(#[from] CertificateError),
}

/// Applies the rollover rules at `now`.
pub async fn maintain(store: &dyn Store, now: i64) -> Result<Vec<Action>, RolloverError> {
    let mut actions = Vec::new();
    let certificates = store.certificates().await?;
    let next = certificates.iter().find(|c| c.role == CertificateRole::Next);
    if let Some(next) = next.filter(|n| n.effective_at.is_some_and(|at| at <= now)) {
        if store.promote_next_certificate().await? {
            actions.push(Action::Promoted { thumbprint: next.thumbprint.clone() });
        }
        return Ok(actions);
    }
    if next.is_none()
        && let Some(action) = renew(store, &certificates, now).await?
    {
        actions.push(action);
    }
    Ok(actions)
}

/// When the next maintenance decision falls due, given the stored certificates and renewal policy.
pub fn next_due(certificates: &[CertificateRecord], renew_before_days: Option<u32>) -> Option<i64> {
    let effective = certificates.iter().filter(|c| c.role == CertificateRole::Next).filter_map(|c| c.effective_at);
    let renewal = renew_before_days.and_then(|days| {
        let has_next = certificates.iter().any(|c| c.role == CertificateRole::Next);
        let current = certificates.iter().find(|c| c.role == CertificateRole::Current)?;
        (!has_next).then(|| current.not_after - i64::from(days) * 86_400)
    });
    effective.chain(renewal).min()
}

async fn renew(
    store: &dyn Store,
    certificates: &[CertificateRecord],
    now: i64,
) -> Result<Option<Action>, RolloverError> {
    let Some(config) = store.oauth_config().await? else { return Ok(None) };
    let Some(policy) = config.auto_renew else { return Ok(None) };
    let Some(current) = certificates.iter().find(|c| c.role == CertificateRole::Current) else { return Ok(None) };
    if current.not_after - now > i64::from(policy.renew_before_days) * 86_400 {
        return Ok(None);
    }
    let key_bits = current_key_bits(current).unwrap_or(2048);
    let validity_days = u32::try_from((current.not_after - current.not_before) / 86_400).unwrap_or(730).clamp(30, 3650);
    let now_dt = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let cert = certificate::generate(&config.realm, &config.additional_realms, key_bits, validity_days, now_dt)?;
    let effective_at = (now + i64::from(policy.lead_days) * 86_400).min(current.not_after);
    let record = super::store_record(cert, CertificateRole::Next, Some(effective_at), now);
    store.stage_next_certificate(&record).await?;
    Ok(Some(Action::Staged { thumbprint: record.thumbprint, effective_at }))
}

fn current_key_bits(current: &CertificateRecord) -> Option<usize> {
    certificate::CertificateInfo::from_der(&current.cert_der)
        .ok()
        .map(|i| i.key_bits)
        .filter(|b| [2048, 3072, 4096].contains(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use super::*;
    use crate::store::{AutoRenew, OAuthConfig, open};

    const NOW: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    async fn store_with(auto_renew: Option<AutoRenew>, current_days: u32) -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap();
        store
            .set_oauth_config(&OAuthConfig {
                realm: "litwareinc.com".into(),
                service_name: s2s::principal::LYNC.into(),
                hostnames: vec![],
                additional_realms: vec![],
                exchange_autodiscover_url: None,
                auto_renew,
            })
            .await
            .unwrap();
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let cert = certificate::generate("litwareinc.com", &[], 2048, current_days, now).unwrap();
        store.install_current_certificate(&record(cert, CertificateRole::Current, None)).await.unwrap();
        (dir, store)
    }

    fn record(
        cert: certificate::IssuerCertificate,
        role: CertificateRole,
        effective_at: Option<i64>,
    ) -> CertificateRecord {
        crate::issuer::store_record(cert, role, effective_at, NOW)
    }

    fn roles(certs: &[CertificateRecord]) -> Vec<CertificateRole> {
        certs.iter().map(|c| c.role).collect()
    }

    #[tokio::test]
    async fn promotes_the_next_certificate_on_its_effective_date() {
        let (_dir, store) = store_with(None, 365).await;
        let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let next = certificate::generate("litwareinc.com", &[], 2048, 365, now).unwrap();
        let thumbprint = next.info.thumbprint.clone();
        store.stage_next_certificate(&record(next, CertificateRole::Next, Some(NOW + 3 * DAY))).await.unwrap();

        assert_eq!(maintain(store.as_ref(), NOW + 3 * DAY - 1).await.unwrap(), vec![]);
        assert_eq!(next_due(&store.certificates().await.unwrap(), None), Some(NOW + 3 * DAY));
        assert_eq!(
            maintain(store.as_ref(), NOW + 3 * DAY).await.unwrap(),
            vec![Action::Promoted { thumbprint: thumbprint.clone() }]
        );
        let certs = store.certificates().await.unwrap();
        assert_eq!(roles(&certs), vec![CertificateRole::Current, CertificateRole::Previous]);
        assert_eq!(certs[0].thumbprint, thumbprint);
        assert_eq!(maintain(store.as_ref(), NOW + 3 * DAY + 1).await.unwrap(), vec![], "nothing more to do");
    }

    #[tokio::test]
    async fn auto_renew_stages_a_certificate_when_the_current_one_nears_expiry() {
        let policy = AutoRenew { renew_before_days: 60, lead_days: 7 };
        let (_dir, store) = store_with(Some(policy), 90).await;
        let certs = store.certificates().await.unwrap();
        let renew_at = certs[0].not_after - 60 * DAY;
        assert_eq!(next_due(&certs, Some(60)), Some(renew_at));
        assert_eq!(maintain(store.as_ref(), renew_at - 1).await.unwrap(), vec![], "not yet");

        let actions = maintain(store.as_ref(), renew_at).await.unwrap();
        let [Action::Staged { effective_at, .. }] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(*effective_at, renew_at + 7 * DAY);
        let certs = store.certificates().await.unwrap();
        assert_eq!(roles(&certs), vec![CertificateRole::Current, CertificateRole::Next]);
        assert!(certs[1].private_key_pkcs8.is_some());
        assert_eq!(maintain(store.as_ref(), renew_at + 1).await.unwrap(), vec![], "one staged certificate is enough");
    }

    #[tokio::test]
    async fn auto_renew_is_off_by_default() {
        let (_dir, store) = store_with(None, 10).await;
        assert_eq!(maintain(store.as_ref(), NOW + 9 * DAY).await.unwrap(), vec![]);
        assert_eq!(next_due(&store.certificates().await.unwrap(), None), None);
    }
}
