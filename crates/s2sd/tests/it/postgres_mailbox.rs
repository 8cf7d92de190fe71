//! Mailboxes on PostgreSQL, shared by a front-end pool: a mailbox user is created through the CLI
//! against a PostgreSQL store (a fresh schema of `S2S_TEST_DATABASE_URL`, its own key file), two
//! `s2sd serve` nodes run on it, an item written through node 1's EWS with an act-as token is
//! found through node 2's EWS, and the CLI lists it. Skipped (with a note) when
//! `S2S_TEST_DATABASE_URL` is not set.

use std::process::Command;

use crate::postgres::{PgNode, with_postgres};
use crate::support::{EXCHANGE, LYNC, REALM, USER};

const MAILBOX: &str = "kenmyer@litwareinc.com";
const SOAP_OPEN: &str = r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>"#;
const SOAP_CLOSE: &str = "</s:Body></s:Envelope>";

impl PgNode {
    /// POSTs a SOAP body to `/EWS/Exchange.asmx` with the token; returns the status and the answer.
    fn ews(&self, token: &str, operation: &str) -> (u16, String) {
        let body = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(body.path(), format!("{SOAP_OPEN}{operation}{SOAP_CLOSE}")).unwrap();
        let answer = tempfile::NamedTempFile::new().unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "-w", "%{http_code}", "-o"])
            .arg(answer.path())
            .args(["-H", "Content-Type: text/xml; charset=utf-8", "-H", &format!("Authorization: Bearer {token}")])
            .arg("--data-binary")
            .arg(format!("@{}", body.path().display()))
            .arg(format!("{}/EWS/Exchange.asmx", self.base))
            .output()
            .expect("curl is installed");
        let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        (status, std::fs::read_to_string(answer.path()).unwrap_or_default())
    }
}

#[test]
#[ignore = "needs PostgreSQL: set S2S_TEST_DATABASE_URL"]
fn an_item_written_through_one_node_is_read_through_another() {
    with_postgres("the PostgreSQL mailbox test", |lync, pg| {
        // The pool: its configuration, its issuer certificate and kenmyer's mailbox, made through the CLI.
        pg.ok(&["oauth-config", "set", "--realm", REALM, "--service-name", "exchange"]);
        pg.ok(&["certificate", "new"]);
        let created = pg.ok(&["mailbox", "user", "new", "--smtp", MAILBOX, "--sip", USER]);
        assert!(created.contains(&format!("Mailbox user {MAILBOX} created")), "{created}");

        // The caller: Lync, with a store and certificate of its own, trusted (Full) by the pool.
        lync.configure("lync");
        let exchange_cert = lync.path("exchange.pem");
        pg.ok(&["certificate", "export", "--out", exchange_cert.to_str().unwrap()]);
        let lync_cert = lync.path("lync.pem");
        lync.ok(&["certificate", "export", "--out", lync_cert.to_str().unwrap()]);
        lync.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Exchange",
            "--application-identifier",
            EXCHANGE,
            "--realm",
            REALM,
            "--certificate",
            exchange_cert.to_str().unwrap(),
        ]);
        pg.ok(&[
            "partner-application",
            "new",
            "--identity",
            "Lync",
            "--application-identifier",
            LYNC,
            "--realm",
            REALM,
            "--certificate",
            lync_cert.to_str().unwrap(),
            "--trust-level",
            "full",
        ]);

        let node1 = pg.serve(lync.dir.path(), "node1");
        let node2 = pg.serve(lync.dir.path(), "node2");
        // One act-as token per node: the audience names the host the node is called at.
        let token_for = |node: &PgNode| {
            let args = ["token", "issue", "--partner", "Exchange", "--host", node.authority(), "--user", USER];
            lync.ok(&args).trim().to_owned()
        };

        // Written through node 1 …
        let subject = format!("kept on node 1 {}", std::process::id());
        let (status, answer) = node1.ews(
            &token_for(&node1),
            &format!(
                "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>\
                 <t:DistinguishedFolderId Id=\"conversationhistory\"><t:Mailbox><t:EmailAddress>{MAILBOX}\
                 </t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:SavedItemFolderId><m:Items><t:Message>\
                 <t:Subject>{subject}</t:Subject><t:Body BodyType=\"Text\">IM conversation</t:Body>\
                 <t:IsRead>false</t:IsRead></t:Message></m:Items></m:CreateItem>"
            ),
        );
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains("ResponseClass=\"Success\""), "{answer}");
        let item_id = answer.split("<t:ItemId Id=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();

        // … read through node 2.
        let (status, answer) = node2.ews(
            &token_for(&node2),
            &format!(
                "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>\
                 <m:IndexedPageItemView MaxEntriesReturned=\"10\" Offset=\"0\" BasePoint=\"Beginning\"/>\
                 <m:ParentFolderIds><t:DistinguishedFolderId Id=\"conversationhistory\"><t:Mailbox>\
                 <t:EmailAddress>{MAILBOX}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds>\
                 </m:FindItem>"
            ),
        );
        assert_eq!(status, 200, "{answer}");
        assert!(answer.contains("ResponseClass=\"Success\""), "{answer}");
        assert!(answer.contains("TotalItemsInView=\"1\""), "{answer}");
        assert!(answer.contains(&format!("<t:ItemId Id=\"{item_id}\"")), "{answer}");
        assert!(answer.contains(&subject), "{answer}");

        // And the CLI sees it in the PostgreSQL store.
        let items = pg.ok(&["mailbox", "item", "list", "--user", MAILBOX]);
        assert!(items.contains(&subject), "{items}");
    });
}
