#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The mailbox domain (users, addresses, who may open what) and the EWS endpoint in-process:
//! `tower::ServiceExt::oneshot` against the real router over a temporary SQLite store, with
//! tokens minted by `s2s::client::Issuer` for partners registered in the trust store.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use s2s::client::{Issuer, IssuerIdentity};
use s2s::partner::refresh::RefreshPolicy;
use s2s::token::{SigningKey, UserClaims};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::ews::soap::{self, Element};
use super::ews::writer::{M_NS, T_NS};
use super::{AccessError, Grant, MailboxError, Principal, Role, Session, folder};
use crate::issuer::{self, IssuerCertificate};
use crate::server::{AppState, router};
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
    cancel: CancellationToken,
    state: AppState,
    app: Router,
    lync: Issuer,
    reader: Issuer,
    archiver: Issuer,
    unlinked: Issuer,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
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
        let r = RoleAssignmentRecord { role: role.to_string(), user_id: user.id.clone(), created_at: 1 };
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
    let cancel = CancellationToken::new();
    let state = AppState::start(
        stores,
        s2s::clock::system(),
        RefreshPolicy::default(),
        Duration::from_secs(3600),
        cancel.clone(),
    )
    .await
    .unwrap();
    Site {
        _dir: dir,
        cancel,
        app: router(state.clone()),
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

// ---------------------------------------------------------------------------------------------
// The domain

#[test]
fn new_users_get_checked_lower_cased_addresses_and_every_well_known_folder() {
    let (u, folders) =
        super::new_user(" Ken.Myer@LitwareInc.com ", Some("SIP:ken@litwareinc.com"), None, Some(KEN_SID), None, 5)
            .unwrap();
    assert_eq!(
        (u.smtp.as_str(), u.sip.as_str(), u.upn.as_str()),
        ("ken.myer@litwareinc.com", "ken@litwareinc.com", "ken.myer@litwareinc.com")
    );
    assert_eq!(u.sid.as_deref(), Some(KEN_SID.to_ascii_lowercase().as_str()));
    assert_eq!(u.display_name, "ken.myer");
    for name in [
        folder::ROOT,
        folder::CONVERSATION_HISTORY,
        folder::CONTACTS,
        folder::INBOX,
        folder::DELETED_ITEMS,
        folder::ARCHIVE_MSG_FOLDER_ROOT,
    ] {
        assert!(folders.iter().any(|f| f.distinguished.as_deref() == Some(name)), "no {name}");
    }
    // Parents come first, and every parent exists.
    for (i, f) in folders.iter().enumerate() {
        if let Some(p) = &f.parent_id {
            assert!(folders[..i].iter().any(|x| &x.id == p));
        }
    }
    let archive = folders.iter().find(|f| f.distinguished.as_deref() == Some(folder::ARCHIVE_MSG_FOLDER_ROOT)).unwrap();
    assert!(super::is_archive_folder(archive, &folders));
    let inbox = folders.iter().find(|f| f.distinguished.as_deref() == Some(folder::INBOX)).unwrap();
    assert!(!super::is_archive_folder(inbox, &folders));
    assert!(matches!(super::new_user("nobody", None, None, None, None, 1), Err(MailboxError::InvalidAddress(_))));
    assert!(matches!(super::new_user("a@b", None, None, Some("S-1-x"), None, 1), Err(MailboxError::InvalidSid(_))));
    assert!(matches!(super::new_user("a@b", Some("a b@c"), None, None, None, 1), Err(MailboxError::InvalidAddress(_))));
}

#[test]
fn ids_are_opaque_base64_and_distinct() {
    use base64::Engine as _;
    let a = super::new_id();
    assert_ne!(a, super::new_id());
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(&a).unwrap().len(), 32);
    let g = super::new_guid();
    assert_eq!(g.len(), 36);
    assert_eq!(&g[14..15], "4");
}

#[test]
fn roles_parse_as_admins_type_them() {
    assert_eq!("userapplication".parse::<Role>().unwrap(), Role::UserApplication);
    assert_eq!(" ArchiveApplication ".parse::<Role>().unwrap(), Role::ArchiveApplication);
    assert!(matches!("Admin".parse::<Role>(), Err(MailboxError::UnknownRole(_))));
}

#[test]
fn who_may_open_which_mailbox() {
    let user = |smtp: &str| super::new_user(smtp, None, None, None, None, 1).unwrap().0;
    let (ken, david, app) = (user(KEN), user(DAVID), user("app@litwareinc.com"));
    let as_ken = Principal::User { partner: "Lync".into(), user: ken.clone() };
    assert_eq!(as_ken.grant_for(&ken, true), Ok(Grant::Full));
    assert!(matches!(as_ken.grant_for(&david, false), Err(AccessError::AccessDenied(_))));
    assert!(matches!(as_ken.grant_for(&david, true), Err(AccessError::ImpersonateUserDenied(_))));
    let app_with = |roles: Vec<Role>| Principal::Application { partner: "P".into(), linked: app.clone(), roles };
    assert_eq!(app_with(vec![]).grant_for(&app, false), Ok(Grant::Full));
    assert!(matches!(app_with(vec![]).grant_for(&ken, true), Err(AccessError::ImpersonateUserDenied(_))));
    assert_eq!(app_with(vec![Role::UserApplication]).grant_for(&ken, true), Ok(Grant::Full));
    assert_eq!(app_with(vec![Role::ArchiveApplication]).grant_for(&ken, true), Ok(Grant::ArchiveWrite));
    // An application works in the anchor mailbox; a user's anchor is routing only.
    let s = Session::open(app_with(vec![Role::UserApplication]), None, Some(ken.clone())).unwrap();
    assert_eq!((s.mailbox.smtp.as_str(), s.grant), (KEN, Grant::Full));
    let s = Session::open(as_ken.clone(), None, Some(david.clone())).unwrap();
    assert_eq!(s.mailbox.smtp, KEN);
    assert!(matches!(s.grant_for(&david), Err(AccessError::AccessDenied(_))));
    assert!(matches!(Session::open(as_ken, Some(david), None), Err(AccessError::ImpersonateUserDenied(_))));
}

// ---------------------------------------------------------------------------------------------
// Act-as: the user's own mailbox

#[tokio::test]
async fn act_as_opens_conversation_history_saves_finds_reads_and_deletes_a_message() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(None, Some(KEN)));
    let a = site
        .ews(&token, None, &get_folder(&[folder_id("root", None), folder_id("conversationhistory", Some(KEN))]))
        .await;
    assert_eq!(a.headers.get("content-type").unwrap(), "text/xml; charset=utf-8");
    let msgs = a.messages();
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        assert_eq!(code(m), ("Success", "NoError"));
        assert!(find(m, "FolderId").unwrap().attr("ChangeKey").is_some());
    }
    assert_eq!(find(&msgs[1], "DisplayName").unwrap().trimmed(), "Conversation History");
    assert_eq!(find(&msgs[1], "DistinguishedFolderId").unwrap().trimmed(), "conversationhistory");

    let a = site.create_message(&token, None, "conversationhistory", "IM with David").await;
    let msgs = a.messages();
    assert_eq!(code(&msgs[0]), ("Success", "NoError"));
    let (id, change_key) = item_id(&msgs[0]);

    let a = site.ews(&token, None, &find_items("conversationhistory", 10, 0, "")).await;
    let msgs = a.messages();
    let root = find(&msgs[0], "RootFolder").unwrap();
    assert_eq!(root.attr("TotalItemsInView"), Some("1"));
    assert_eq!(root.attr("IncludesLastItemInRange"), Some("true"));
    assert_eq!(item_id(&msgs[0]).0, id);
    assert!(find(&msgs[0], "Body").is_none(), "FindItem returned a body");

    let a = site.ews(&token, None, &item_ids("GetItem", "", &[&id])).await;
    let msgs = a.messages();
    assert_eq!(item_id(&msgs[0]), (id.clone(), change_key));
    assert_eq!(find(&msgs[0], "Subject").unwrap().trimmed(), "IM with David");
    assert_eq!(find(&msgs[0], "Body").unwrap().text, "hello & bye");
    assert_eq!(find(find(&msgs[0], "From").unwrap(), "EmailAddress").unwrap().trimmed(), DAVID);
    assert_eq!(find(find(&msgs[0], "ToRecipients").unwrap(), "EmailAddress").unwrap().trimmed(), KEN);

    let a = site.ews(&token, None, &item_ids("DeleteItem", " DeleteType=\"HardDelete\"", &[&id])).await;
    assert_eq!(code(&a.messages()[0]), ("Success", "NoError"));
    assert!(site.items_of(KEN).await.is_empty());
    let a = site.ews(&token, None, &item_ids("GetItem", "", &[&id])).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorItemNotFound"));
}

#[tokio::test]
async fn find_item_pages_and_filters() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    for i in 0..5 {
        let a = site.create_message(&token, None, "inbox", &format!("message {i}")).await;
        assert_eq!(code(&a.messages()[0]).1, "NoError");
    }
    let a = site.ews(&token, None, &find_items("inbox", 2, 2, "")).await;
    let msgs = a.messages();
    let root = find(&msgs[0], "RootFolder").unwrap();
    assert_eq!(root.attr("IndexedPagingOffset"), Some("4"));
    assert_eq!(root.attr("TotalItemsInView"), Some("5"));
    assert_eq!(root.attr("IncludesLastItemInRange"), Some("false"));
    assert_eq!(find(root, "Items").unwrap().children.len(), 2);

    let restriction = "<m:Restriction><t:Contains ContainmentMode=\"Substring\" ContainmentComparison=\"IgnoreCase\">\
        <t:FieldURI FieldURI=\"item:Subject\"/><t:Constant Value=\"MESSAGE 3\"/></t:Contains></m:Restriction>";
    let a = site.ews(&token, None, &find_items("inbox", 10, 0, restriction)).await;
    let msgs = a.messages();
    let root = find(&msgs[0], "RootFolder").unwrap();
    assert_eq!(root.attr("TotalItemsInView"), Some("1"));
    assert_eq!(find(root, "Subject").unwrap().trimmed(), "message 3");

    let unsupported = "<m:Restriction><t:Exists><t:FieldURI FieldURI=\"calendar:Start\"/></t:Exists></m:Restriction>";
    let a = site.ews(&token, None, &find_items("inbox", 10, 0, unsupported)).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorUnsupportedPathForQuery"));
}

#[tokio::test]
async fn soft_delete_and_move_to_deleted_items_move_the_item() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    let folder_of = |site: &Site, id: String| {
        let store = Arc::clone(site.mailbox());
        async move {
            let item = store.item(&id).await.unwrap().unwrap();
            store.folder(&item.folder_id).await.unwrap().unwrap().distinguished.unwrap()
        }
    };
    let (a, b) = (
        item_id(&site.create_message(&token, None, "inbox", "a").await.messages()[0]).0,
        item_id(&site.create_message(&token, None, "inbox", "b").await.messages()[0]).0,
    );
    site.ews(&token, None, &item_ids("DeleteItem", " DeleteType=\"MoveToDeletedItems\"", &[&a])).await.messages();
    assert_eq!(folder_of(&site, a.clone()).await, folder::DELETED_ITEMS);
    site.ews(&token, None, &item_ids("DeleteItem", " DeleteType=\"MoveToDeletedItems\"", &[&a])).await.messages();
    assert_eq!(folder_of(&site, a.clone()).await, folder::RECOVERABLE_ITEMS_DELETIONS);
    site.ews(&token, None, &item_ids("DeleteItem", " DeleteType=\"SoftDelete\"", &[&b])).await.messages();
    assert_eq!(folder_of(&site, b.clone()).await, folder::RECOVERABLE_ITEMS_DELETIONS);
    // Deleting from the dumpster is final; an unknown id is ErrorItemNotFound beside a success.
    let a2 = site.ews(&token, None, &item_ids("DeleteItem", " DeleteType=\"SoftDelete\"", &[&b, "bm9uZQ=="])).await;
    let msgs = a2.messages();
    assert_eq!(code(&msgs[0]), ("Success", "NoError"));
    assert_eq!(code(&msgs[1]), ("Error", "ErrorItemNotFound"));
    assert_eq!(site.items_of(KEN).await.len(), 1);
}

#[tokio::test]
async fn contacts_are_created_updated_with_change_keys_and_conflicts_detected() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    let create = "<m:CreateItem><m:Items><t:Contact><t:GivenName>Ken</t:GivenName><t:Surname>Myer</t:Surname>\
        <t:CompanyName>Litware</t:CompanyName><t:EmailAddresses><t:Entry Key=\"EmailAddress1\">kenmyer@litwareinc.com</t:Entry>\
        </t:EmailAddresses><t:PhoneNumbers><t:Entry Key=\"BusinessPhone\">+1 425 555 0100</t:Entry></t:PhoneNumbers>\
        <t:ImAddresses><t:Entry Key=\"ImAddress1\">sip:kenmyer@litwareinc.com</t:Entry></t:ImAddresses></t:Contact></m:Items></m:CreateItem>";
    let a = site.ews(&token, None, create).await;
    let (id, ck) = item_id(&a.messages()[0]);
    let stored = site.mailbox().item(&id).await.unwrap().unwrap();
    let contacts = site.mailbox().folder(&stored.folder_id).await.unwrap().unwrap();
    assert_eq!(
        contacts.distinguished.as_deref(),
        Some(folder::CONTACTS),
        "a contact without a folder goes to Contacts"
    );
    assert_eq!(stored.display_name.as_deref(), Some("Ken Myer"));
    assert_eq!(stored.im_addresses[0].value, "sip:kenmyer@litwareinc.com");

    let update = |ck: &str, mode: &str, set: &str| {
        format!(
            "<m:UpdateItem ConflictResolution=\"{mode}\"><m:ItemChanges><t:ItemChange><t:ItemId Id=\"{id}\" ChangeKey=\"{ck}\"/>\
             <t:Updates>{set}</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"
        )
    };
    let set = "<t:SetItemField><t:FieldURI FieldURI=\"contacts:JobTitle\"/><t:Contact><t:JobTitle>Engineer</t:JobTitle>\
        </t:Contact></t:SetItemField><t:SetItemField><t:IndexedFieldURI FieldURI=\"contacts:PhoneNumber\" FieldIndex=\"MobilePhone\"/>\
        <t:Contact><t:PhoneNumbers><t:Entry Key=\"MobilePhone\">+1 425 555 0199</t:Entry></t:PhoneNumbers></t:Contact></t:SetItemField>\
        <t:DeleteItemField><t:FieldURI FieldURI=\"contacts:CompanyName\"/></t:DeleteItemField>";
    let a = site.ews(&token, None, &update(&ck, "AutoResolve", set)).await;
    let msgs = a.messages();
    assert_eq!(code(&msgs[0]), ("Success", "NoError"));
    let (_, ck2) = item_id(&msgs[0]);
    assert_ne!(ck, ck2);
    let stored = site.mailbox().item(&id).await.unwrap().unwrap();
    assert_eq!(stored.job_title.as_deref(), Some("Engineer"));
    assert_eq!(stored.company_name, None);
    assert_eq!(stored.phone_numbers.len(), 2);

    let a = site.ews(&token, None, &update(&ck, "NeverOverwrite", set)).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorIrresolvableConflict"));
    assert_eq!(site.mailbox().item(&id).await.unwrap().unwrap().change_key, ck2, "a refused update wrote");
}

#[tokio::test]
async fn items_missing_required_fields_are_refused_and_not_stored() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    let op = "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:Items><t:Message><t:Body>no subject</t:Body></t:Message>\
        <t:Contact><t:CompanyName>no name</t:CompanyName></t:Contact><t:Message><t:Subject>ok</t:Subject></t:Message>\
        <t:CalendarItem><t:Subject>meeting</t:Subject></t:CalendarItem>\
        <t:Message><t:Subject>bad rcpt</t:Subject><t:ToRecipients><t:Mailbox><t:Name>x</t:Name></t:Mailbox></t:ToRecipients></t:Message>\
        </m:Items></m:CreateItem>";
    let a = site.ews(&token, None, op).await;
    let codes: Vec<(String, String)> =
        a.messages().iter().map(|m| (code(m).0.to_owned(), code(m).1.to_owned())).collect();
    let expect = |c: &str, r: &str| (c.to_owned(), r.to_owned());
    assert_eq!(
        codes,
        [
            expect("Error", "ErrorRequiredPropertyMissing"),
            expect("Error", "ErrorRequiredPropertyMissing"),
            expect("Success", "NoError"),
            expect("Error", "ErrorInvalidItemForOperation"),
            expect("Error", "ErrorInvalidRecipients"),
        ]
    );
    for m in a.messages().iter().filter(|m| code(m).0 == "Error") {
        assert!(!m.child_text(M_NS, "MessageText").unwrap().is_empty());
    }
    let items = site.items_of(KEN).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].subject.as_deref(), Some("ok"));
    // Sending mail is not something this server does; a message needs a disposition.
    let a = site.ews(&token, None, &create_message("inbox", None, "x").replace("SaveOnly", "SendAndSaveCopy")).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorInvalidOperation"));
    let a = site
        .ews(&token, None, &create_message("inbox", None, "x").replace(" MessageDisposition=\"SaveOnly\"", ""))
        .await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorMessageDispositionRequired"));
    assert_eq!(site.items_of(KEN).await.len(), 1);
}

#[tokio::test]
async fn a_user_may_not_open_another_mailbox() {
    let site = site().await;
    let ken = act_as(&site.lync, &claims(Some(KEN), None));
    let david = act_as(&site.lync, &claims(Some(DAVID), None));
    let a = site
        .ews(
            &ken,
            None,
            &get_folder(&[
                folder_id("inbox", Some(DAVID)),
                folder_id("inbox", Some("ghost@litwareinc.com")),
                folder_id("calendar", None),
            ]),
        )
        .await;
    let msgs = a.messages();
    assert_eq!(code(&msgs[0]), ("Error", "ErrorAccessDenied"));
    assert_eq!(code(&msgs[1]), ("Error", "ErrorNonExistentMailbox"));
    assert_eq!(code(&msgs[2]), ("Error", "ErrorFolderNotFound"));
    let a = site.ews(&ken, Some(DAVID), &get_folder(&[folder_id("inbox", None)])).await;
    assert_eq!(a.fault_code(), "ErrorImpersonateUserDenied");
    let a = site.create_message(&ken, None, "conversationhistory", "from ken").await;
    assert_eq!(code(&a.messages()[0]).1, "NoError");
    // David cannot write into Ken's mailbox, nor read or delete Ken's item by its id.
    let a = site.ews(&david, None, &create_message("inbox", Some(KEN), "intrusion")).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    let (id, _) = item_id(&site.ews(&ken, None, &find_items("conversationhistory", 1, 0, "")).await.messages()[0]);
    let a = site.ews(&david, None, &item_ids("GetItem", "", &[&id])).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    let a = site.ews(&david, None, &item_ids("DeleteItem", " DeleteType=\"HardDelete\"", &[&id])).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    assert_eq!(site.items_of(KEN).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Resolving the act-as user (protocol reference §3.3 step 10)

#[tokio::test]
async fn act_as_users_resolve_by_smtp_sip_upn_or_sid_else_401_with_6001_or_6002() {
    let site = site().await;
    let op = get_folder(&[folder_id("inbox", None)]);
    for c in [
        claims(Some("KenMyer@LitwareInc.com"), None),
        claims(None, Some("sip:kenmyer@litwareinc.com")),
        UserClaims { upn: Some(KEN.into()), ..UserClaims::default() },
        UserClaims {
            nameid: Some(KEN_SID.to_ascii_lowercase()),
            nii: Some(super::NII_ACTIVE_DIRECTORY.into()),
            ..UserClaims::default()
        },
    ] {
        let a = site.ews(&act_as(&site.lync, &c), None, &op).await;
        assert_eq!(code(&a.messages()[0]), ("Success", "NoError"), "{c:?}");
    }
    let a = site.ews(&act_as(&site.lync, &claims(Some("ghost@litwareinc.com"), None)), None, &op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().starts_with("6001;reason=\""), "{}", a.diagnostics());
    assert!(a.diagnostics().ends_with("error_category=\"invalid_user\""), "{}", a.diagnostics());
    let challenge = a.headers.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm=\"litwareinc.com\"") && challenge.contains("error=\"invalid_token\""));
    let a = site.ews(&act_as(&site.lync, &claims(Some(KEN), Some(DAVID))), None, &op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().starts_with("6002;"), "{}", a.diagnostics());
    // A SID alone, from a partner that does not accept SID information, finds nobody.
    let sid_only = UserClaims {
        nameid: Some(KEN_SID.to_ascii_lowercase()),
        nii: Some(super::NII_ACTIVE_DIRECTORY.into()),
        ..UserClaims::default()
    };
    let a = site.ews(&act_as(&site.unlinked, &sid_only), None, &op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().contains("accept-security-identifier-information"), "{}", a.diagnostics());
}

// ---------------------------------------------------------------------------------------------
// App-only: the linked account and its roles

#[tokio::test]
async fn user_application_impersonates_any_mailbox_by_header_or_anchor() {
    let site = site().await;
    let token = app_only(&site.lync);
    let a = site.create_message(&token, Some(KEN), "conversationhistory", "archived by impersonation").await;
    assert_eq!(code(&a.messages()[0]).1, "NoError");
    assert_eq!(site.items_of(KEN).await.len(), 1);
    let a = site
        .post(
            "/EWS/Exchange.asmx",
            Some(&token),
            &[("x-anchormailbox", DAVID)],
            envelope(None, &create_message("inbox", None, "anchored")),
        )
        .await;
    assert_eq!(code(&a.messages()[0]).1, "NoError");
    assert_eq!(site.items_of(DAVID).await.len(), 1);
    // Without either, it works in its own (linked) mailbox.
    let a = site.create_message(&token, None, "inbox", "own").await;
    assert_eq!(code(&a.messages()[0]).1, "NoError");
    assert_eq!(site.items_of("lync-app@litwareinc.com").await.len(), 1);
    let a = site.ews(&token, Some("ghost@litwareinc.com"), &get_folder(&[folder_id("inbox", None)])).await;
    assert_eq!(a.fault_code(), "ErrorNonExistentMailbox");
}

#[tokio::test]
async fn without_user_application_impersonation_is_refused_and_nothing_stored() {
    let site = site().await;
    let token = app_only(&site.reader);
    let a = site.create_message(&token, Some(KEN), "conversationhistory", "nope").await;
    assert_eq!(a.fault_code(), "ErrorImpersonateUserDenied");
    let a = site
        .post(
            "/EWS/Exchange.asmx",
            Some(&token),
            &[("X-AnchorMailbox", KEN)],
            envelope(None, &get_folder(&[folder_id("inbox", None)])),
        )
        .await;
    assert_eq!(a.fault_code(), "ErrorImpersonateUserDenied");
    let a = site.ews(&token, None, &create_message("inbox", Some(KEN), "nope")).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    assert!(site.items_of(KEN).await.is_empty());
}

#[tokio::test]
async fn archive_application_writes_only_the_archive_folders() {
    let site = site().await;
    let token = app_only(&site.archiver);
    let a = site
        .ews(&token, Some(KEN), &get_folder(&[folder_id("archivemsgfolderroot", None), folder_id("inbox", None)]))
        .await;
    let msgs = a.messages();
    assert_eq!(code(&msgs[0]), ("Success", "NoError"));
    assert_eq!(code(&msgs[1]), ("Error", "ErrorAccessDenied"));
    let a = site.create_message(&token, Some(KEN), "archivemsgfolderroot", "archived IM").await;
    let (id, _) = item_id(&a.messages()[0]);
    let a = site.create_message(&token, Some(KEN), "conversationhistory", "not here").await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    let a = site.ews(&token, Some(KEN), &item_ids("GetItem", "", &[&id])).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    let a = site.ews(&token, Some(KEN), &find_items("archivemsgfolderroot", 10, 0, "")).await;
    assert_eq!(code(&a.messages()[0]), ("Error", "ErrorAccessDenied"));
    assert_eq!(site.items_of(KEN).await.len(), 1);
}

#[tokio::test]
async fn app_only_without_a_usable_linked_account_is_401() {
    let site = site().await;
    let op = envelope(None, &get_folder(&[folder_id("inbox", None)]));
    let a = site.post("/EWS/Exchange.asmx", Some(&app_only(&site.unlinked)), &[], op.clone()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().starts_with("2015;") && a.diagnostics().contains("linked account"), "{}", a.diagnostics());
    let mailbox = &site.mailbox();
    let linked = super::find_by_address(mailbox, "norights@litwareinc.com").await.unwrap();
    assert!(mailbox.remove_user(&linked.id).await.unwrap());
    let a = site.post("/EWS/Exchange.asmx", Some(&app_only(&site.reader)), &[], op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().starts_with("6001;"), "{}", a.diagnostics());
}

// ---------------------------------------------------------------------------------------------
// Bad input over HTTP

#[tokio::test]
async fn bad_requests_get_soap_faults_and_store_nothing() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>\
        <s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&b;</s:Body></s:Envelope>";
    assert_eq!(site.post("/EWS/Exchange.asmx", Some(&token), &[], bomb).await.fault_code(), "ErrorSchemaValidation");
    let xxe = envelope(None, &create_message("inbox", None, "&xxe;"));
    assert_eq!(site.post("/EWS/Exchange.asmx", Some(&token), &[], xxe).await.fault_code(), "ErrorSchemaValidation");
    let truncated = envelope(None, &create_message("inbox", None, "cut"));
    let truncated = &truncated[..truncated.len() - 20];
    assert_eq!(
        site.post("/EWS/Exchange.asmx", Some(&token), &[], truncated.to_owned()).await.fault_code(),
        "ErrorSchemaValidation"
    );
    let a = site.ews(&token, None, "<m:SyncFolderItems/>").await;
    assert_eq!(a.fault_code(), "ErrorInvalidOperation");
    assert!(a.body.contains("SyncFolderItems"));
    // Over the limit: refused from Content-Length alone, and when streamed without one.
    let big = vec![b' '; super::ews::soap::MAX_BODY_BYTES + 1];
    let a = site.post("/EWS/Exchange.asmx", Some(&token), &[], big.clone()).await;
    assert_eq!(a.fault_code(), "ErrorMessageSizeExceeded");
    let stream = futures_stream(big);
    let a = site.post("/EWS/Exchange.asmx", Some(&token), &[], stream).await;
    assert_eq!(a.fault_code(), "ErrorMessageSizeExceeded");
    assert!(site.items_of(KEN).await.is_empty());
    // Under the EWS limit but over the server's general 1 MiB limit: served.
    let body = "x".repeat(2 * 1024 * 1024);
    let op = create_message("inbox", None, "large").replace("hello &amp; bye", &body);
    let a = site.ews(&token, None, &op).await;
    assert_eq!(code(&a.messages()[0]).1, "NoError");
}

/// `bytes` as a chunked body without a Content-Length.
fn futures_stream(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn the_endpoint_answers_every_spelling_and_challenges_without_a_token() {
    let site = site().await;
    let token = act_as(&site.lync, &claims(Some(KEN), None));
    let op = envelope(None, &get_folder(&[folder_id("root", None)]));
    for path in super::ews::PATHS {
        let a = site.post(path, Some(&token), &[], op.clone()).await;
        assert_eq!(code(&a.messages()[0]).1, "NoError", "{path}");
    }
    let a = site.post("/EWS/Exchange.asmx", None, &[], op.clone()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers.get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer "));
    let a = site.post("/EWS/Exchange.asmx", Some("not.a.token"), &[], op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.diagnostics().is_empty());
}
