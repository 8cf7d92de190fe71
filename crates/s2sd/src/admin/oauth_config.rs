//! Commands on our own OAuth identity (`Set-CsOAuthConfiguration`, `Set-AuthConfig`): the realm,
//! service name and host names, and automatic certificate renewal. Each changes only the settings
//! it names, on the configuration as it is inside its transaction.

use super::{Action, Admin, AdminError, Change, shown};
use crate::store::{AutoRenew, OAuthConfig};

/// Sets the settings named; `None` (or an empty list) keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct SetOAuthConfig {
    pub realm: Option<String>,
    /// exchange, sharepoint, lync, skype, or an application id GUID.
    pub service_name: Option<String>,
    /// Replaces the list when not empty.
    pub hostnames: Vec<String>,
    /// Replaces the list when not empty.
    pub additional_realms: Vec<String>,
    /// `Some("")` removes it.
    pub exchange_autodiscover_url: Option<String>,
}

/// Turns automatic renewal of our issuer certificate on (`Some`) or off (`None`).
#[derive(Debug, Clone, Copy)]
pub struct SetAutoRenew(pub Option<AutoRenew>);

impl Admin {
    /// Creates or changes our OAuth configuration.
    pub async fn set_oauth_config(&self, cmd: SetOAuthConfig) -> Result<(Change, OAuthConfig), AdminError> {
        let realm = cmd.realm.as_deref().map(normalize_realm).transpose()?;
        let service_name = cmd
            .service_name
            .as_deref()
            .map(|s| {
                s2s::principal::service_app_id(s.trim())
                    .map_err(|e| AdminError::Invalid { option: "--service-name", reason: e.to_string() })
            })
            .transpose()?;
        let additional_realms =
            cmd.additional_realms.iter().map(|r| normalize_realm(r)).collect::<Result<Vec<_>, _>>()?;
        let autodiscover = match cmd.exchange_autodiscover_url.as_deref() {
            Some("") => Some(None),
            Some(u) => Some(Some(
                url::Url::parse(u)
                    .map_err(|e| AdminError::Invalid {
                        option: "--exchange-autodiscover-url",
                        reason: format!("`{u}` is not a URL: {e}"),
                    })?
                    .to_string(),
            )),
            None => None,
        };
        let mut tx = self.begin().await?;
        let existing = tx.oauth_config().await?;
        let realm = match (realm, &existing) {
            (Some(r), _) => r,
            (None, Some(c)) => c.realm.clone(),
            (None, None) => {
                return Err(AdminError::Invalid {
                    option: "--realm",
                    reason: "no realm is configured yet: pass --realm (e.g. --realm litwareinc.com)".into(),
                });
            }
        };
        let service_name = match (service_name, &existing) {
            (Some(s), _) => s,
            (None, Some(c)) => c.service_name.clone(),
            (None, None) => {
                return Err(AdminError::Invalid {
                    option: "--service-name",
                    reason:
                        "no service name is configured yet: pass --service-name (exchange, sharepoint, lync or a GUID)"
                            .into(),
                });
            }
        };
        let hostnames: Vec<String> =
            cmd.hostnames.iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        let config = OAuthConfig {
            realm,
            service_name,
            hostnames: if hostnames.is_empty() {
                existing.as_ref().map(|c| c.hostnames.clone()).unwrap_or_default()
            } else {
                hostnames
            },
            additional_realms: if additional_realms.is_empty() {
                existing.as_ref().map(|c| c.additional_realms.clone()).unwrap_or_default()
            } else {
                additional_realms
            },
            exchange_autodiscover_url: match autodiscover {
                Some(url) => url,
                None => existing.as_ref().and_then(|c| c.exchange_autodiscover_url.clone()),
            },
            auto_renew: existing.as_ref().and_then(|c| c.auto_renew),
        };
        // A first configuration is a change from nothing: every setting shows as new.
        let mut change = Change::new("OAuth configuration", config.realm.clone(), Action::Changed);
        let before = existing.as_ref();
        change.field("realm", before.map(|c| c.realm.clone()), shown(&config.realm));
        change.field("service name", before.map(|c| c.service_name.clone()), shown(&config.service_name));
        let list = |l: &[String]| (!l.is_empty()).then(|| l.join(", "));
        change.field("host names", before.and_then(|c| list(&c.hostnames)), list(&config.hostnames));
        change.field(
            "additional realms",
            before.and_then(|c| list(&c.additional_realms)),
            list(&config.additional_realms),
        );
        change.field(
            "Exchange autodiscover URL",
            before.and_then(|c| c.exchange_autodiscover_url.clone()),
            config.exchange_autodiscover_url.clone(),
        );
        if !change.is_empty() {
            tx.set_oauth_config(&config).await?;
        }
        Ok((Self::finish(tx, change).await?, config))
    }

    /// Turns automatic certificate renewal on or off.
    pub async fn set_auto_renew(&self, cmd: SetAutoRenew) -> Result<Change, AdminError> {
        if let Some(a) = cmd.0 {
            if a.lead_days < 2 {
                return Err(AdminError::Invalid {
                    option: "--lead",
                    reason: "must be at least 2 days: partners need 48 hours to read the next certificate".into(),
                });
            }
            if a.lead_days >= a.renew_before_days {
                return Err(AdminError::Invalid {
                    option: "--lead",
                    reason: format!(
                        "{} days must be shorter than --renew-before ({} days), or the current certificate expires before the next one signs",
                        a.lead_days, a.renew_before_days
                    ),
                });
            }
        }
        let mut tx = self.begin().await?;
        let mut config = tx.oauth_config().await?.ok_or(AdminError::Invalid {
            option: "--realm",
            reason: "set the realm first: s2sd oauth-config set --realm <realm> --service-name <name>".into(),
        })?;
        let describe = |a: Option<AutoRenew>| {
            shown(a.map_or_else(
                || "off".to_owned(),
                |a| format!("{} days before expiry, signing {} days later", a.renew_before_days, a.lead_days),
            ))
        };
        let mut change = Change::new("OAuth configuration", config.realm.clone(), Action::Changed);
        change.field("automatic renewal", describe(config.auto_renew), describe(cmd.0));
        config.auto_renew = cmd.0;
        if !change.is_empty() {
            tx.set_oauth_config(&config).await?;
        }
        Self::finish(tx, change).await
    }
}

/// A realm as typed: a domain or a tenant GUID, lower case.
fn normalize_realm(realm: &str) -> Result<String, AdminError> {
    let r = realm.trim().to_ascii_lowercase();
    if r.is_empty() || r.contains(['@', '/', ' ', '"', ',']) {
        return Err(AdminError::Invalid {
            option: "--realm",
            reason: format!("`{realm}` is not a realm: use a domain (litwareinc.com) or a tenant GUID"),
        });
    }
    Ok(r)
}
