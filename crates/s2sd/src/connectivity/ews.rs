//! A small EWS client: the operations the communications-server role needs against a user's
//! mailbox (GetFolder, CreateItem for messages and contacts, FindItem, DeleteItem), SOAP 1.1 over
//! HTTPS with a bearer token. Responses are read with the same size-limited, DTD-refusing parser
//! the mailbox service uses; failures keep what the target said (`x-ms-diagnostics`, EWS codes).

use std::time::Duration;

use crate::mailbox::ews::soap::{self, Element, SOAP_NS};
use crate::mailbox::ews::writer::{M_NS, T_NS, Xml};

/// Why an EWS call failed.
#[derive(Debug, thiserror::Error)]
pub enum EwsError {
    /// The request never got an HTTP answer.
    #[error("{kind} failure reaching {url}: {detail}")]
    Transport {
        /// What kind of failure.
        kind: TransportKind,
        /// The URL.
        url: String,
        /// The cause chain.
        detail: String,
    },
    /// An HTTP error status (401 carries the diagnosis).
    #[error("HTTP {status} from {url}{}", diagnostics.as_deref().map(|d| format!(" (x-ms-diagnostics: {d})")).unwrap_or_default())]
    Http {
        /// The status code.
        status: u16,
        /// The URL.
        url: String,
        /// `x-ms-diagnostics`, when sent.
        diagnostics: Option<String>,
        /// The stable `reason` of an s2s refusal body, when sent.
        reason: Option<String>,
    },
    /// A SOAP fault.
    #[error("SOAP fault {code}: {text}")]
    Fault {
        /// `faultcode`.
        code: String,
        /// `faultstring`.
        text: String,
    },
    /// An EWS error response (`ResponseClass="Error"`).
    #[error("{code}: {text}")]
    Response {
        /// `ResponseCode`, e.g. `ErrorNonExistentMailbox`.
        code: String,
        /// `MessageText`.
        text: String,
    },
    /// An answer that is not the expected EWS response.
    #[error("unexpected answer: {0}")]
    Malformed(String),
}

/// Transport failure kinds, for diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The server's certificate is not trusted (or TLS failed).
    Tls,
    /// The host name does not resolve.
    Dns,
    /// Nothing answers on that port.
    Connect,
    /// No answer in time.
    Timeout,
    /// Anything else.
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tls => "TLS",
            Self::Dns => "DNS",
            Self::Connect => "connection",
            Self::Timeout => "timeout",
            Self::Other => "network",
        })
    }
}

/// A folder or item id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EwsId {
    /// `Id`.
    pub id: String,
    /// `ChangeKey`.
    pub change_key: String,
}

/// A contact as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Contact {
    /// Its id.
    pub id: Option<EwsId>,
    /// Display name.
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// E-mail addresses.
    pub email_addresses: Vec<String>,
    /// IM (SIP) addresses.
    pub im_addresses: Vec<String>,
    /// Phone numbers.
    pub phone_numbers: Vec<String>,
}

/// An EWS endpoint with the `Authorization` header to present.
pub struct EwsClient {
    http: reqwest::Client,
    url: url::Url,
    authorization: String,
}

impl std::fmt::Debug for EwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsClient").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl EwsClient {
    /// A client of `url` presenting `authorization` (a `Bearer …` value), trusting `ca_pem` if given.
    pub fn new(url: url::Url, authorization: String, ca_pem: Option<&[u8]>) -> Result<Self, EwsError> {
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| EwsError::Malformed(format!("the trusted CA is not PEM: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| transport(&url, &e))?;
        Ok(Self { http, url, authorization })
    }

    /// The folder with distinguished id `name` (e.g. `conversationhistory`) of the token's user.
    pub async fn get_folder(&self, name: &str) -> Result<EwsId, EwsError> {
        let mut x = Xml::new();
        x.open("m:GetFolder", &[]);
        x.open("m:FolderShape", &[]).leaf("t:BaseShape", "IdOnly").close("m:FolderShape");
        x.open("m:FolderIds", &[]).empty("t:DistinguishedFolderId", &[("Id", name)]).close("m:FolderIds");
        x.close("m:GetFolder");
        let message = self.call("GetFolder", &x.finish()).await?;
        message
            .child(M_NS, "Folders")
            .and_then(|f| f.children.first())
            .and_then(|f| f.child(T_NS, "FolderId"))
            .and_then(id_of)
            .ok_or_else(|| EwsError::Malformed("GetFolder answered without a FolderId".into()))
    }

    /// Saves a message with `subject` and a text `body` into `folder`.
    pub async fn create_message(&self, folder: &Folder<'_>, subject: &str, body: &str) -> Result<EwsId, EwsError> {
        let mut x = Xml::new();
        x.open("m:CreateItem", &[("MessageDisposition", "SaveOnly")]);
        x.open("m:SavedItemFolderId", &[]);
        folder.write(&mut x);
        x.close("m:SavedItemFolderId");
        x.open("m:Items", &[]).open("t:Message", &[]);
        x.leaf("t:Subject", subject).leaf_with("t:Body", &[("BodyType", "Text")], body);
        x.close("t:Message").close("m:Items").close("m:CreateItem");
        self.created("CreateItem", &x.finish()).await
    }

    /// Creates a contact in the user's Contacts folder.
    pub async fn create_contact(&self, contact: &Contact) -> Result<EwsId, EwsError> {
        let mut x = Xml::new();
        x.open("m:CreateItem", &[]);
        x.open("m:SavedItemFolderId", &[]).empty("t:DistinguishedFolderId", &[("Id", "contacts")]);
        x.close("m:SavedItemFolderId");
        x.open("m:Items", &[]).open("t:Contact", &[]);
        // Schema order: DisplayName, GivenName, EmailAddresses, PhoneNumbers, ImAddresses, Surname.
        x.leaf("t:DisplayName", &contact.display_name);
        if let Some(g) = &contact.given_name {
            x.leaf("t:GivenName", g);
        }
        entries(&mut x, "t:EmailAddresses", "EmailAddress", &contact.email_addresses);
        let phone_keys = ["BusinessPhone", "MobilePhone", "HomePhone"];
        if !contact.phone_numbers.is_empty() {
            x.open("t:PhoneNumbers", &[]);
            for (key, number) in phone_keys.iter().zip(&contact.phone_numbers) {
                x.leaf_with("t:Entry", &[("Key", key)], number);
            }
            x.close("t:PhoneNumbers");
        }
        entries(&mut x, "t:ImAddresses", "ImAddress", &contact.im_addresses);
        if let Some(s) = &contact.surname {
            x.leaf("t:Surname", s);
        }
        x.close("t:Contact").close("m:Items").close("m:CreateItem");
        self.created("CreateItem", &x.finish()).await
    }

    /// The contacts in the user's Contacts folder (first 500).
    pub async fn find_contacts(&self) -> Result<Vec<Contact>, EwsError> {
        let mut x = Xml::new();
        x.open("m:FindItem", &[("Traversal", "Shallow")]);
        x.open("m:ItemShape", &[]).leaf("t:BaseShape", "AllProperties").close("m:ItemShape");
        x.empty("m:IndexedPageItemView", &[("MaxEntriesReturned", "500"), ("Offset", "0"), ("BasePoint", "Beginning")]);
        x.open("m:ParentFolderIds", &[])
            .empty("t:DistinguishedFolderId", &[("Id", "contacts")])
            .close("m:ParentFolderIds");
        x.close("m:FindItem");
        let message = self.call("FindItem", &x.finish()).await?;
        let items = message.child(M_NS, "RootFolder").and_then(|r| r.child(T_NS, "Items"));
        Ok(items.map(|i| i.children_named(T_NS, "Contact").map(contact_of).collect()).unwrap_or_default())
    }

    /// Deletes an item (`HardDelete`, or `MoveToDeletedItems`).
    pub async fn delete_item(&self, item: &EwsId, hard: bool) -> Result<(), EwsError> {
        let mut x = Xml::new();
        x.open("m:DeleteItem", &[("DeleteType", if hard { "HardDelete" } else { "MoveToDeletedItems" })]);
        x.open("m:ItemIds", &[]).empty("t:ItemId", &[("Id", &item.id), ("ChangeKey", &item.change_key)]);
        x.close("m:ItemIds").close("m:DeleteItem");
        self.call("DeleteItem", &x.finish()).await.map(|_| ())
    }

    async fn created(&self, operation: &str, body: &str) -> Result<EwsId, EwsError> {
        let message = self.call(operation, body).await?;
        message
            .child(M_NS, "Items")
            .and_then(|i| i.children.first())
            .and_then(|item| item.child(T_NS, "ItemId"))
            .and_then(id_of)
            .ok_or_else(|| EwsError::Malformed(format!("{operation} answered without an ItemId")))
    }

    /// Posts one operation and returns its (successful) response message element.
    async fn call(&self, operation: &str, body: &str) -> Result<Element, EwsError> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_NS}\" xmlns:m=\"{M_NS}\" \
             xmlns:t=\"{T_NS}\"><s:Header><t:RequestServerVersion Version=\"Exchange2016\"/></s:Header>\
             <s:Body>{body}</s:Body></s:Envelope>"
        );
        let response = self
            .http
            .post(self.url.clone())
            .header("Authorization", &self.authorization)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("\"http://schemas.microsoft.com/exchange/services/2006/messages/{operation}\""),
            )
            .body(envelope)
            .send()
            .await
            .map_err(|e| transport(&self.url, &e))?;
        let status = response.status();
        let diagnostics = response.headers().get("x-ms-diagnostics").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| transport(&self.url, &e))?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_owned));
            return Err(EwsError::Http { status: status.as_u16(), url: self.url.to_string(), diagnostics, reason });
        }
        let parsed = soap::parse_envelope(&bytes);
        let envelope = match parsed {
            Ok(e) => e,
            Err(_) if !status.is_success() => {
                return Err(EwsError::Http {
                    status: status.as_u16(),
                    url: self.url.to_string(),
                    diagnostics,
                    reason: None,
                });
            }
            Err(e) => return Err(EwsError::Malformed(e.to_string())),
        };
        let body = envelope.body;
        if body.is(SOAP_NS, "Fault") {
            return Err(EwsError::Fault {
                code: body.child_text("", "faultcode").unwrap_or_default().to_owned(),
                text: body.child_text("", "faultstring").unwrap_or_default().to_owned(),
            });
        }
        let message = body
            .child(M_NS, "ResponseMessages")
            .and_then(|m| m.children.first())
            .cloned()
            .ok_or_else(|| EwsError::Malformed(format!("no {operation} response message")))?;
        if message.attr("ResponseClass") != Some("Success") {
            return Err(EwsError::Response {
                code: message.child_text(M_NS, "ResponseCode").unwrap_or("Error").to_owned(),
                text: message.child_text(M_NS, "MessageText").unwrap_or_default().to_owned(),
            });
        }
        Ok(message)
    }
}

/// Where to save an item.
#[derive(Debug, Clone, Copy)]
pub enum Folder<'a> {
    /// A distinguished folder id (`conversationhistory`, `archivemsgfolderroot`, …).
    Distinguished(&'a str),
    /// A folder id from GetFolder.
    Id(&'a EwsId),
}

impl Folder<'_> {
    fn write(&self, x: &mut Xml) {
        match self {
            Self::Distinguished(name) => x.empty("t:DistinguishedFolderId", &[("Id", name)]),
            Self::Id(id) => x.empty("t:FolderId", &[("Id", &id.id), ("ChangeKey", &id.change_key)]),
        };
    }
}

fn entries(x: &mut Xml, element: &str, key: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    x.open(element, &[]);
    for (i, v) in values.iter().enumerate().take(3) {
        x.leaf_with("t:Entry", &[("Key", &format!("{key}{}", i + 1))], v);
    }
    x.close(element);
}

fn id_of(e: &Element) -> Option<EwsId> {
    Some(EwsId { id: e.attr("Id")?.to_owned(), change_key: e.attr("ChangeKey").unwrap_or_default().to_owned() })
}

fn contact_of(c: &Element) -> Contact {
    let list = |name: &str| -> Vec<String> {
        c.child(T_NS, name).map(|l| l.children.iter().map(|e| e.trimmed().to_owned()).collect()).unwrap_or_default()
    };
    Contact {
        id: c.child(T_NS, "ItemId").and_then(id_of),
        display_name: c.child_text(T_NS, "DisplayName").unwrap_or_default().to_owned(),
        given_name: c.child_text(T_NS, "GivenName").map(str::to_owned),
        surname: c.child_text(T_NS, "Surname").map(str::to_owned),
        email_addresses: list("EmailAddresses"),
        im_addresses: list("ImAddresses"),
        phone_numbers: list("PhoneNumbers"),
    }
}

fn transport(url: &url::Url, e: &reqwest::Error) -> EwsError {
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    let lower = detail.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        TransportKind::Tls
    } else if lower.contains("dns") || lower.contains("failed to lookup") || lower.contains("name or service not known")
    {
        TransportKind::Dns
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    EwsError::Transport { kind, url: url.to_string(), detail }
}
