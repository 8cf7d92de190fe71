#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The mailbox domain (users, addresses, who may open what) and the EWS endpoint in-process:
//! `tower::ServiceExt::oneshot` against the EWS router built from its own state over a temporary
//! SQLite store, with tokens minted by `s2s::client::Issuer` for partners registered in the
//! trust store. This file is the site and the request builders; the tests are in its modules.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use s2s::client::{Issuer, IssuerIdentity};
use s2s::middleware::S2sAuth;
use s2s::partner::TrustStore;
use s2s::token::{SigningKey, UserClaims};
use s2s::validate::Validator;
use tempfile::TempDir;
use tower::ServiceExt as _;

use super::ews::soap::{self, Element};
use super::ews::writer::{M_NS, T_NS};
use super::ews::{self as ews_role, EwsState};
use super::{AccessError, Grant, MailboxError, Principal, Role, Session, folder};
use crate::issuer::{self, IssuerCertificate};
use crate::store::mailbox::{MailboxStore, RoleAssignmentRecord, UserRecord};
use crate::store::{self, CertificateRecord, CertificateRole, OAuthConfig, PartnerRecord, Store};

const REALM: &str = "litwareinc.com";
const HOST: &str = "mail.litwareinc.com";
const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
const LYNC: &str = "00000004-0000-0ff1-ce00-000000000000";
const READER: &str = "11111111-2222-4333-8444-555555555555";
const ARCHIVER: &str = "66666666-7777-4888-8999-000000000000";
const UNLINKED: &str = "12121212-3434-4565-8787-909090909090";
const KEN: &str = "kenmyer@litwareinc.com";
const KEN_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";
const DAVID: &str = "davidl@litwareinc.com";

// ---------------------------------------------------------------------------------------------
// The site: an Exchange node trusting Lync (Full, linked account with UserApplication), Reader
// (linked account without roles), Archiver (linked account with ArchiveApplication) and Unlinked
// (no linked account); mailbox users Ken (with a SID) and David.

/// RSA keys are slow to make in debug builds: one set per test binary.
fn certificates() -> &'static [IssuerCertificate; 5] {
    static CERTS: OnceLock<[IssuerCertificate; 5]> = OnceLock::new();
    CERTS.get_or_init(|| {
        let now = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        std::array::from_fn(|_| issuer::generate(REALM, &[], 2048, 3650, now).unwrap())
    })
}

struct Site {
    _dir: TempDir,
    state: EwsState,
    app: Router,
    lync: Issuer,
    reader: Issuer,
    archiver: Issuer,
    unlinked: Issuer,
}

/// A partner registered by certificate. Built from its JSON form, so that fields added to the
/// record later (all `#[serde(default)]`) take their defaults here.
fn partner(name: &str, app_id: &str, trust: &str, cert: &IssuerCertificate, linked: Option<&str>) -> PartnerRecord {
    use base64::Engine as _;
    serde_json::from_value(serde_json::json!({
        "name": name,
        "application_id": app_id,
        "realm": REALM,
        "metadata_url": null,
        "trust_level": trust,
        "enabled": true,
        "allow_http_metadata": false,
        "tls_ca_pem": null,
        "certificates": [base64::engine::general_purpose::STANDARD.encode(&cert.cert_der)],
        "metadata_fetched_at": null,
        "metadata_status": null,
        "linked_account": linked,
        "accept_security_identifier_information": name == "Lync",
        "created_at": 1,
        "updated_at": 1,
    }))
    .unwrap()
}

fn issuer_for(app_id: &str, cert: &IssuerCertificate) -> Issuer {
    let key = SigningKey::from_pkcs8(&cert.key_pkcs8, &cert.cert_der).unwrap();
    Issuer::new(
        IssuerIdentity { app_id: app_id.into(), realm: REALM.into(), key: Some(Arc::new(key)) },
        s2s::clock::system(),
    )
}

async fn add_user(store: &Arc<dyn MailboxStore>, smtp: &str, sid: Option<&str>, roles: &[Role]) -> UserRecord {
    let (user, folders) = super::new_user(smtp, None, None, sid, None, 1_700_000_000).unwrap();
    store.insert_user(&user, &folders).await.unwrap();
    for role in roles {
        let r = RoleAssignmentRecord { role: *role, user_id: user.id.clone(), created_at: 1 };
        store.insert_role_assignment(&r).await.unwrap();
    }
    user
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s2s.db").display());
    let stores = store::open_stores(&url).await.unwrap();
    let config: Arc<dyn Store> = stores.config.clone();
    config
        .set_oauth_config(&OAuthConfig {
            realm: REALM.into(),
            service_name: EXCHANGE.into(),
            hostnames: vec![HOST.into()],
            additional_realms: vec![],
            exchange_autodiscover_url: None,
            auto_renew: None,
        })
        .await
        .unwrap();
    let [ours, lync, reader, archiver, unlinked] = certificates();
    config
        .install_current_certificate(&CertificateRecord {
            thumbprint: ours.info.thumbprint.clone(),
            role: CertificateRole::Current,
            cert_der: ours.cert_der.clone(),
            private_key_pkcs8: Some(ours.key_pkcs8.to_vec()),
            not_before: ours.info.not_before,
            not_after: ours.info.not_after,
            effective_at: None,
            created_at: 1,
        })
        .await
        .unwrap();
    for p in [
        partner("Lync", LYNC, "Full", lync, Some("lync-app@litwareinc.com")),
        partner("Reader", READER, "Application", reader, Some("smtp:norights@litwareinc.com")),
        partner("Archiver", ARCHIVER, "Application", archiver, Some("archiver@litwareinc.com")),
        partner("Unlinked", UNLINKED, "Full", unlinked, None),
    ] {
        config.insert_partner(&p).await.unwrap();
    }
    let mailboxes = stores.mailbox.clone();
    add_user(&mailboxes, KEN, Some(KEN_SID), &[]).await;
    add_user(&mailboxes, DAVID, None, &[]).await;
    add_user(&mailboxes, "lync-app@litwareinc.com", None, &[Role::UserApplication]).await;
    add_user(&mailboxes, "norights@litwareinc.com", None, &[]).await;
    add_user(&mailboxes, "archiver@litwareinc.com", None, &[Role::ArchiveApplication]).await;
    let clock = s2s::clock::system();
    let loaded = crate::trust::load(config.as_ref(), clock.now()).await.unwrap();
    let trust = Arc::new(TrustStore::new(loaded.local, loaded.partners));
    let auth = S2sAuth::new(Arc::new(Validator::new(Arc::clone(&trust), clock.clone())));
    let state = EwsState { mailbox: mailboxes, trust, auth, clock };
    Site {
        _dir: dir,
        app: ews_role::router(&state).with_state(state.clone()),
        state,
        lync: issuer_for(LYNC, lync),
        reader: issuer_for(READER, reader),
        archiver: issuer_for(ARCHIVER, archiver),
        unlinked: issuer_for(UNLINKED, unlinked),
    }
}

fn claims(smtp: Option<&str>, sip: Option<&str>) -> UserClaims {
    UserClaims { smtp: smtp.map(str::to_owned), sip: sip.map(str::to_owned), ..UserClaims::default() }
}

fn act_as(issuer: &Issuer, user: &UserClaims) -> String {
    issuer.act_as_token(&issuer.audience(EXCHANGE, HOST), user).unwrap()
}

fn app_only(issuer: &Issuer) -> String {
    issuer.actor_token(&issuer.audience(EXCHANGE, HOST)).unwrap().to_string()
}

/// The answer to one request: status, headers, body text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn envelope(&self) -> soap::Envelope {
        soap::parse_envelope(self.body.as_bytes()).unwrap_or_else(|e| panic!("not SOAP ({e}): {}", self.body))
    }

    /// The response messages of an operation's response.
    fn messages(&self) -> Vec<Element> {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        let env = self.envelope();
        assert!(env.header.iter().any(|h| h.is(T_NS, "ServerVersionInfo")), "no ServerVersionInfo: {}", self.body);
        env.body.child(M_NS, "ResponseMessages").unwrap().children.clone()
    }

    /// The fault's EWS code (asserting a 500 SOAP fault with ServerVersionInfo).
    fn fault_code(&self) -> String {
        assert_eq!(self.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", self.body);
        let env = self.envelope();
        assert!(env.header.iter().any(|h| h.is(T_NS, "ServerVersionInfo")));
        assert!(env.body.is(soap::SOAP_NS, "Fault"), "{}", self.body);
        env.body
            .child("", "detail")
            .and_then(|d| d.child(super::ews::writer::E_NS, "ResponseCode"))
            .map(|c| c.trimmed().to_owned())
            .unwrap()
    }

    fn diagnostics(&self) -> String {
        self.headers.get("x-ms-diagnostics").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
}

fn code(message: &Element) -> (&str, &str) {
    (message.attr("ResponseClass").unwrap(), message.child_text(M_NS, "ResponseCode").unwrap())
}

/// Depth-first search for the first element named `name`.
fn find<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    if e.name == name {
        return Some(e);
    }
    e.children.iter().find_map(|c| find(c, name))
}

fn item_id(message: &Element) -> (String, String) {
    let id = find(message, "ItemId").unwrap();
    (id.attr("Id").unwrap().to_owned(), id.attr("ChangeKey").unwrap().to_owned())
}

impl Site {
    fn mailbox(&self) -> &Arc<dyn MailboxStore> {
        &self.state.mailbox
    }

    async fn post(&self, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: impl Into<Body>) -> Answer {
        let mut req = Request::builder().method("POST").uri(path).header("host", HOST);
        req = req.header("content-type", "text/xml; charset=utf-8");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self.app.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap();
        Answer { status, headers, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    async fn ews(&self, token: &str, impersonate: Option<&str>, op: &str) -> Answer {
        self.post("/EWS/Exchange.asmx", Some(token), &[], envelope(impersonate, op)).await
    }

    async fn create_message(&self, token: &str, impersonate: Option<&str>, folder: &str, subject: &str) -> Answer {
        self.ews(token, impersonate, &create_message(folder, None, subject)).await
    }

    async fn items_of(&self, smtp: &str) -> Vec<crate::store::mailbox::ItemRecord> {
        let u = super::find_by_address(self.mailbox(), smtp).await.unwrap();
        self.mailbox().user_items(&u.id).await.unwrap()
    }
}

fn envelope(impersonate: Option<&str>, op: &str) -> String {
    let header = impersonate
        .map(|u| {
            format!(
                "<s:Header><t:RequestServerVersion Version=\"Exchange2016\"/><t:ExchangeImpersonation><t:ConnectingSID>\
                 <t:PrimarySmtpAddress>{u}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>"
            )
        })
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:m=\"{M_NS}\" xmlns:t=\"{T_NS}\">{header}<s:Body>{op}</s:Body></s:Envelope>"
    )
}

fn folder_id(distinguished: &str, mailbox: Option<&str>) -> String {
    match mailbox {
        Some(m) => format!(
            "<t:DistinguishedFolderId Id=\"{distinguished}\"><t:Mailbox><t:EmailAddress>{m}</t:EmailAddress>\
             </t:Mailbox></t:DistinguishedFolderId>"
        ),
        None => format!("<t:DistinguishedFolderId Id=\"{distinguished}\"/>"),
    }
}

fn get_folder(ids: &[String]) -> String {
    format!(
        "<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape><m:FolderIds>{}\
         </m:FolderIds></m:GetFolder>",
        ids.concat()
    )
}

fn create_message(folder: &str, mailbox: Option<&str>, subject: &str) -> String {
    format!(
        "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>{}</m:SavedItemFolderId><m:Items>\
         <t:Message><t:Subject>{subject}</t:Subject><t:Body BodyType=\"Text\">hello &amp; bye</t:Body>\
         <t:ToRecipients><t:Mailbox><t:EmailAddress>{KEN}</t:EmailAddress></t:Mailbox></t:ToRecipients>\
         <t:From><t:Mailbox><t:Name>David</t:Name><t:EmailAddress>{DAVID}</t:EmailAddress></t:Mailbox></t:From>\
         </t:Message></m:Items></m:CreateItem>",
        folder_id(folder, mailbox)
    )
}

fn find_items(folder: &str, max: u64, offset: u64, restriction: &str) -> String {
    format!(
        "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>\
         <m:IndexedPageItemView MaxEntriesReturned=\"{max}\" Offset=\"{offset}\" BasePoint=\"Beginning\"/>{restriction}\
         <m:ParentFolderIds>{}</m:ParentFolderIds></m:FindItem>",
        folder_id(folder, None)
    )
}

fn item_ids(op: &str, attrs: &str, ids: &[&str]) -> String {
    let ids: String = ids.iter().map(|id| format!("<t:ItemId Id=\"{id}\"/>")).collect();
    let shape =
        if op == "GetItem" { "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>" } else { "" };
    format!("<m:{op}{attrs}>{shape}<m:ItemIds>{ids}</m:ItemIds></m:{op}>")
}

mod callers;
mod domain;
mod own_mailbox;
mod wire;
