#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The SOAP codec: every operation as exchangelib sends it (fixtures recorded from exchangelib
//! 5.6.0, see `tests/fixtures/ews/README.md`), the refusals (DTD, entities, size, depth,
//! malformed XML, wrong envelope, unsupported operation), and the writer's output read back.

use super::request::{
    BaseShape, Comparison, DeleteType, FieldUpdate, FieldUri, FieldValue, FolderRef, MailboxAddress, NewItem,
    Operation, PropertyPath, Restriction, Traversal, UnknownFieldUri, UserId,
};
use super::soap::{self, MAX_BODY_BYTES, SOAP_NS, SoapError};
use super::writer::{self, E_NS, M_NS, T_NS, Xml};
use super::{EwsError, Fault, ResponseCode, parse};
use crate::mailbox::AccessError;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/ews/", $name))
    };
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{SOAP_NS}\" xmlns:m=\"{M_NS}\" \
         xmlns:t=\"{T_NS}\"><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn get_folder_root() -> String {
    envelope(
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>\
         <m:FolderIds><t:DistinguishedFolderId Id=\"root\"/></m:FolderIds></m:GetFolder>",
    )
}

fn fault_of(body: &[u8]) -> Fault {
    parse(body).expect_err("expected a fault")
}

// ---------------------------------------------------------------------------------------------
// Every operation as exchangelib sends it

#[test]
fn get_folder_root_and_conversation_history_as_exchangelib_sends_them() {
    for (text, id) in [
        (fixture!("GetFolder-root-delegate.xml"), "root"),
        (fixture!("GetFolder-conversationhistory-delegate.xml"), "conversationhistory"),
        (fixture!("GetFolder-contacts-delegate.xml"), "contacts"),
        (fixture!("GetFolder-archiveroot-impersonation.xml"), "archiveroot"),
    ] {
        let r = parse(text.as_bytes()).unwrap();
        let Operation::GetFolder(g) = &r.operation else { panic!("{:?}", r.operation) };
        assert_eq!(
            g.folders,
            [FolderRef::Distinguished { id: id.into(), mailbox: Some("kenmyer@litwareinc.com".into()) }]
        );
        assert_eq!(g.shape.base, BaseShape::IdOnly);
        assert!(g.shape.additional.iter().any(|p| p.to_string() == "folder:DisplayName"), "{:?}", g.shape.additional);
        assert_eq!(r.server_version.as_deref(), Some("Exchange2016"));
    }
    let r = parse(fixture!("GetFolder-root-delegate.xml").as_bytes()).unwrap();
    assert_eq!(r.impersonation, None);
}

#[test]
fn the_impersonation_header_names_the_user() {
    let r = parse(fixture!("GetFolder-root-impersonation.xml").as_bytes()).unwrap();
    assert_eq!(r.impersonation, Some(UserId::PrimarySmtpAddress("kenmyer@litwareinc.com".into())));
}

#[test]
fn create_item_message_and_contact_as_exchangelib_sends_them() {
    let r = parse(fixture!("CreateItem-message-delegate.xml").as_bytes()).unwrap();
    let Operation::CreateItem(c) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(c.disposition.as_deref(), Some("SaveOnly"));
    assert_eq!(
        c.saved_folder,
        Some(FolderRef::Distinguished {
            id: "conversationhistory".into(),
            mailbox: Some("kenmyer@litwareinc.com".into())
        })
    );
    let [NewItem::Message(m)] = c.items.as_slice() else { panic!("{:?}", c.items) };
    assert!(m.item.subject.as_deref().unwrap().starts_with("s2s interop act-as "));
    assert_eq!(m.item.body, Some(("Text".into(), "IM conversation saved by exchangelib (act-as)".into())));
    let to = m.to.as_ref().unwrap();
    assert_eq!(to[0].email.as_deref(), Some("kenmyer@litwareinc.com"));
    assert_eq!(m.item.is_read, Some(false));

    let r = parse(fixture!("CreateItem-contact-delegate.xml").as_bytes()).unwrap();
    let Operation::CreateItem(c) = &r.operation else { panic!("{:?}", r.operation) };
    let [NewItem::Contact(k)] = c.items.as_slice() else { panic!("{:?}", c.items) };
    assert_eq!((k.given_name.as_deref(), k.surname.as_deref()), (Some("Ken"), Some("Myer")));
    assert_eq!(k.email_addresses, Some(vec![("EmailAddress1".into(), "kenmyer@litwareinc.com".into())]));
    assert_eq!(k.phone_numbers, Some(vec![("BusinessPhone".into(), "+1 425 555 0100".into())]));
}

#[test]
fn find_item_with_paging_and_a_subject_restriction_as_exchangelib_sends_it() {
    let r = parse(fixture!("FindItem-restricted-impersonation.xml").as_bytes()).unwrap();
    let Operation::FindItem(f) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(f.traversal, Traversal::Shallow);
    let paging = f.paging.unwrap();
    assert_eq!((paging.max, paging.offset, paging.from_end), (Some(100), 0, false));
    let Some(Restriction::Compare { field, op, value }) = &f.restriction else { panic!("{:?}", f.restriction) };
    assert_eq!((field, *op), (&PropertyPath::Field(FieldUri::Subject), Comparison::Equal));
    assert!(value.starts_with("s2s interop impersonation "));
    let r = parse(fixture!("FindItem-all-delegate.xml").as_bytes()).unwrap();
    let Operation::FindItem(f) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(f.restriction, None);
}

#[test]
fn get_update_and_delete_item_as_exchangelib_sends_them() {
    let r = parse(fixture!("GetItem-delegate.xml").as_bytes()).unwrap();
    let Operation::GetItem(g) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(g.items.len(), 1);
    assert!(g.items[0].change_key.is_some());

    let r = parse(fixture!("UpdateItem-delegate.xml").as_bytes()).unwrap();
    let Operation::UpdateItem(u) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(u.conflict_resolution, "AutoResolve");
    let [FieldUpdate::Set { path, value }] = u.changes[0].updates.as_slice() else { panic!("{:?}", u.changes) };
    assert_eq!(path, &PropertyPath::Field(FieldUri::JobTitle));
    assert_eq!(value, &Some(FieldValue::Text("Engineer".into())));

    let r = parse(fixture!("DeleteItem-impersonation.xml").as_bytes()).unwrap();
    let Operation::DeleteItem(d) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(d.delete_type, DeleteType::HardDelete);
    assert_eq!(d.items.len(), 1);
}

#[test]
fn text_keeps_predefined_entities_character_references_and_cdata() {
    let doc = soap::parse_document(b"<a x=\"1 &amp; &#x32;\">&lt;b&gt; &#65;&#x42; <![CDATA[<raw>]]> &quot;&apos;</a>")
        .unwrap();
    assert_eq!(doc.text, "<b> AB <raw> \"'");
    assert_eq!(doc.attr("x"), Some("1 & 2"));
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn a_doctype_is_refused_so_no_entity_is_ever_declared_or_expanded() {
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \
                \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
    assert_eq!(soap::parse_document(bomb.as_bytes()), Err(SoapError::DocType));
    let external = "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
                    <s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&xxe;</s:Body></s:Envelope>";
    assert_eq!(soap::parse_document(external.as_bytes()), Err(SoapError::DocType));
    let plain_dtd = "<!DOCTYPE s:Envelope SYSTEM \"http://example.invalid/soap.dtd\"><x/>";
    assert_eq!(soap::parse_document(plain_dtd.as_bytes()), Err(SoapError::DocType));
    let f = fault_of(bomb.as_bytes());
    assert_eq!(f.code, "ErrorSchemaValidation");
    assert!(f.text.contains("DTD is prohibited"), "{}", f.text);
}

#[test]
fn an_undeclared_entity_is_refused_in_text_and_in_attributes() {
    assert_eq!(soap::parse_document(b"<a>&xxe;</a>"), Err(SoapError::UndeclaredEntity("xxe".into())));
    assert!(matches!(soap::parse_document(b"<a b=\"&xxe;\"/>"), Err(SoapError::UndeclaredEntity(_))));
}

#[test]
fn an_oversize_body_is_refused_before_parsing() {
    // Not even XML: the size check must come first.
    let big = vec![b'<'; MAX_BODY_BYTES + 1];
    assert_eq!(
        soap::parse_document(&big),
        Err(SoapError::TooLarge { size: MAX_BODY_BYTES + 1, limit: MAX_BODY_BYTES })
    );
    assert_eq!(fault_of(&big).code, "ErrorMessageSizeExceeded");
}

#[test]
fn limits_on_depth_elements_and_attributes() {
    let deep = format!("{}{}", "<a>".repeat(soap::MAX_DEPTH + 1), "</a>".repeat(soap::MAX_DEPTH + 1));
    assert_eq!(soap::parse_document(deep.as_bytes()), Err(SoapError::TooDeep));
    let wide = format!("<a>{}</a>", "<b/>".repeat(soap::MAX_ELEMENTS));
    assert_eq!(soap::parse_document(wide.as_bytes()), Err(SoapError::TooManyElements));
    let attrs: String = (0..=soap::MAX_ATTRIBUTES).map(|i| format!(" a{i}=\"x\"")).collect();
    assert_eq!(soap::parse_document(format!("<a{attrs}/>").as_bytes()), Err(SoapError::TooManyAttributes));
}

#[test]
fn malformed_xml_is_a_schema_validation_fault() {
    for bad in [
        &b"<a><b></a>"[..],
        b"<a>",
        b"",
        b"   ",
        b"not xml",
        b"<a/><b/>",
        b"<x:a/>",
        b"\xff\xfe<a/>",
        b"<a b='1' b='2'/>",
    ] {
        let f = fault_of(bad);
        assert_eq!(f.code, "ErrorSchemaValidation", "{:?} -> {f:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn envelope_shape_is_checked() {
    let soap12 = "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body><x/></e:Body></e:Envelope>";
    assert_eq!(fault_of(soap12.as_bytes()).code, "VersionMismatch");
    assert_eq!(fault_of(b"<Envelope><Body/></Envelope>").code, "VersionMismatch");
    assert!(matches!(soap::parse_envelope(b"<html/>"), Err(SoapError::NotSoap(_))));
    let empty_body = format!("<s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Body/></s:Envelope>");
    assert!(matches!(soap::parse_envelope(empty_body.as_bytes()), Err(SoapError::NotSoap(_))));
    let no_body = format!("<s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Header/></s:Envelope>");
    assert!(matches!(soap::parse_envelope(no_body.as_bytes()), Err(SoapError::NotSoap(_))));
    assert!(parse(get_folder_root().as_bytes()).is_ok());
}

#[test]
fn an_unsupported_operation_is_a_fault_naming_it() {
    let f = fault_of(envelope("<m:SyncFolderItems><m:ItemShape/></m:SyncFolderItems>").as_bytes());
    assert_eq!(f.code, "ErrorInvalidOperation");
    assert_eq!(f.operation.as_deref(), Some("SyncFolderItems"));
    assert!(f.text.contains("SyncFolderItems is not supported"), "{}", f.text);
    // A supported name in the wrong namespace is not that operation.
    let f = fault_of(envelope("<t:GetFolder/>").as_bytes());
    assert_eq!(f.operation.as_deref(), Some("GetFolder"));
    assert_eq!(f.code, "ErrorInvalidOperation");
}

#[test]
fn operations_missing_what_the_schema_requires_are_schema_faults() {
    for body in [
        "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>",
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds/></m:GetFolder>",
        "<m:FindItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds>\
         <t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>",
        "<m:FindItem Traversal=\"Deep\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>\
         <m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>",
        "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:Items/></m:CreateItem>",
        "<m:CreateItem MessageDisposition=\"Sometimes\"><m:Items><t:Message/></m:Items></m:CreateItem>",
        "<m:DeleteItem><m:ItemIds><t:ItemId Id=\"x\"/></m:ItemIds></m:DeleteItem>",
        "<m:DeleteItem DeleteType=\"HardDelete\"><m:ItemIds><t:ItemId/></m:ItemIds></m:DeleteItem>",
        "<m:GetItem><m:ItemShape><t:BaseShape>Everything</t:BaseShape></m:ItemShape><m:ItemIds>\
         <t:ItemId Id=\"x\"/></m:ItemIds></m:GetItem>",
        "<m:UpdateItem><m:ItemChanges/></m:UpdateItem>",
    ] {
        let f = fault_of(envelope(body).as_bytes());
        assert_eq!(f.code, "ErrorSchemaValidation", "{body} -> {f:?}");
        assert!(f.operation.is_some(), "{body}");
    }
}

#[test]
fn impersonation_without_a_user_is_a_schema_fault() {
    let text = format!(
        "<s:Envelope xmlns:s=\"{SOAP_NS}\" xmlns:m=\"{M_NS}\" xmlns:t=\"{T_NS}\"><s:Header><t:ExchangeImpersonation>\
         <t:ConnectingSID/></t:ExchangeImpersonation></s:Header><s:Body><m:GetFolder/></s:Body></s:Envelope>"
    );
    assert_eq!(fault_of(text.as_bytes()).code, "ErrorSchemaValidation");
}

// ---------------------------------------------------------------------------------------------
// The writer

#[test]
fn the_writer_escapes_and_drops_what_xml_cannot_carry() {
    let mut x = Xml::new();
    x.leaf_with("t:A", &[("k", "\"<&>'")], "a<b>&c\u{1}\r\n\t");
    assert_eq!(x.finish(), "<t:A k=\"&quot;&lt;&amp;&gt;&apos;\">a&lt;b&gt;&amp;c&#xD;\n\t</t:A>");
}

#[test]
fn envelopes_and_faults_read_back_with_server_version_info() {
    let text = writer::envelope("<m:GetFolderResponse xmlns:m=\"urn:x\"/>");
    let env = soap::parse_envelope(text.as_bytes()).unwrap();
    let info = env.header.iter().find(|h| h.is(T_NS, "ServerVersionInfo")).unwrap();
    assert_eq!(info.attr("MajorVersion"), Some("15"));
    assert_eq!(info.attr("MinorVersion"), Some("1"));
    assert_eq!(info.attr("MajorBuildNumber"), Some("2507"));
    assert_eq!(info.attr("MinorBuildNumber"), Some("6"));
    assert_eq!(info.attr("Version"), Some("V2017_07_11"));

    let text = writer::fault("ErrorImpersonateUserDenied", "no & <no>", Some("GetFolder"));
    let env = soap::parse_envelope(text.as_bytes()).unwrap();
    assert!(env.header.iter().any(|h| h.is(T_NS, "ServerVersionInfo")));
    assert!(env.body.is(SOAP_NS, "Fault"));
    assert_eq!(env.body.child_text("", "faultcode"), Some("a:ErrorImpersonateUserDenied"));
    assert_eq!(env.body.child_text("", "faultstring"), Some("no & <no>"));
    let detail = env.body.child("", "detail").unwrap();
    assert_eq!(detail.child_text(E_NS, "ResponseCode"), Some("ErrorImpersonateUserDenied"));
    let value = detail.child(T_NS, "MessageXml").unwrap().child(T_NS, "Value").unwrap();
    assert_eq!((value.attr("Name"), value.trimmed()), (Some("Operation"), "GetFolder"));

    let text = writer::fault("VersionMismatch", "wrong envelope", None);
    let env = soap::parse_envelope(text.as_bytes()).unwrap();
    assert_eq!(env.body.child_text("", "faultcode"), Some("s:VersionMismatch"));
}

// ---------------------------------------------------------------------------------------------
// The typed model

#[test]
fn every_known_field_uri_parses_to_itself_and_reads_back_as_sent() {
    let mut spellings = std::collections::HashSet::new();
    for field in FieldUri::ALL {
        let text = field.as_str();
        assert!(spellings.insert(text), "{text} twice");
        assert_eq!(text.parse::<FieldUri>(), Ok(field));
        assert_eq!(field.to_string(), text);
        assert_eq!(PropertyPath::field(text), PropertyPath::Field(field));
        assert_eq!(PropertyPath::field(text).to_string(), text);
        let indexed = PropertyPath::indexed(text, "EmailAddress1");
        assert_eq!(indexed, PropertyPath::Indexed { field, index: "EmailAddress1".into() });
        assert_eq!(indexed.to_string(), format!("{text}:EmailAddress1"));
        assert_eq!((indexed.field_uri(), indexed.index()), (Some(field), Some("EmailAddress1")));
        // As a request names it, in a sort order.
        let body = format!(
            "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>\
             <m:SortOrder><t:FieldOrder Order=\"Descending\"><t:FieldURI FieldURI=\"{text}\"/></t:FieldOrder>\
             </m:SortOrder><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>"
        );
        let r = parse(envelope(&body).as_bytes()).unwrap();
        let Operation::FindItem(f) = &r.operation else { panic!("{:?}", r.operation) };
        assert_eq!((&f.sort[0].path, f.sort[0].ascending), (&PropertyPath::Field(field), false));
    }
    assert_eq!(spellings.len(), FieldUri::ALL.len());
}

#[test]
fn an_unknown_field_uri_is_kept_as_sent_for_the_operation_to_answer() {
    assert_eq!("item:Nonsense".parse::<FieldUri>(), Err(UnknownFieldUri("item:Nonsense".into())));
    assert_eq!("Item:Subject".parse::<FieldUri>(), Err(UnknownFieldUri("Item:Subject".into())));
    let path = PropertyPath::field("item:Nonsense");
    assert_eq!(path, PropertyPath::Unknown { uri: UnknownFieldUri("item:Nonsense".into()), index: None });
    assert_eq!((path.to_string(), path.field_uri()), ("item:Nonsense".to_owned(), None));
    let path = PropertyPath::indexed("contacts:Nonsense", "Key1");
    assert_eq!((path.to_string(), path.index()), ("contacts:Nonsense:Key1".to_owned(), Some("Key1")));
    // Parsing accepts it (Exchange answers it per folder, not with a fault) …
    let body = "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>\
         <m:Restriction><t:Exists><t:FieldURI FieldURI=\"item:Nonsense\"/></t:Exists></m:Restriction>\
         <m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>";
    let r = parse(envelope(body).as_bytes()).unwrap();
    let Operation::FindItem(f) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(f.restriction, Some(Restriction::Exists(PropertyPath::field("item:Nonsense"))));
    // … and an update of a field we do not store carries no value to write.
    let body = "<m:UpdateItem><m:ItemChanges><t:ItemChange><t:ItemId Id=\"x\"/><t:Updates><t:SetItemField>\
         <t:FieldURI FieldURI=\"item:Nonsense\"/><t:Message><t:Subject>s</t:Subject></t:Message></t:SetItemField>\
         <t:SetItemField><t:FieldURI FieldURI=\"message:ToRecipients\"/><t:Item><t:ToRecipients><t:Mailbox>\
         <t:EmailAddress>a@b.c</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Item></t:SetItemField>\
         <t:DeleteItemField><t:IndexedFieldURI FieldURI=\"contacts:PhoneNumber\" FieldIndex=\"BusinessPhone\"/>\
         </t:DeleteItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
    let r = parse(envelope(body).as_bytes()).unwrap();
    let Operation::UpdateItem(u) = &r.operation else { panic!("{:?}", r.operation) };
    assert_eq!(
        u.changes[0].updates,
        [
            FieldUpdate::Set { path: PropertyPath::field("item:Nonsense"), value: None },
            FieldUpdate::Set {
                path: PropertyPath::Field(FieldUri::ToRecipients),
                value: Some(FieldValue::Mailboxes(vec![MailboxAddress { name: None, email: Some("a@b.c".into()) }])),
            },
            FieldUpdate::Delete {
                path: PropertyPath::Indexed { field: FieldUri::PhoneNumber, index: "BusinessPhone".into() }
            },
        ]
    );
}

#[test]
fn every_access_refusal_maps_to_its_ews_code_in_messages_and_faults() {
    let cases = [
        (
            AccessError::ImpersonateUserDenied("a".into()),
            ResponseCode::ImpersonateUserDenied,
            "ErrorImpersonateUserDenied",
        ),
        (AccessError::AccessDenied("b".into()), ResponseCode::AccessDenied, "ErrorAccessDenied"),
        (AccessError::NonExistentMailbox("c".into()), ResponseCode::NonExistentMailbox, "ErrorNonExistentMailbox"),
    ];
    for (refusal, code, spelling) in cases {
        let text = refusal.to_string();
        let message = EwsError::from(refusal.clone());
        assert_eq!(message, EwsError { code, text: text.clone() });
        assert_eq!(code.as_str(), spelling);
        let fault = Fault::from(refusal);
        assert_eq!(fault, Fault { code: spelling, text: text.clone(), operation: None });
        let written = writer::fault(fault.code, &fault.text, Some("GetFolder"));
        let env = soap::parse_envelope(written.as_bytes()).unwrap();
        let detail = env.body.child("", "detail").unwrap();
        assert_eq!(detail.child_text(E_NS, "ResponseCode"), Some(spelling));
        assert_eq!(env.body.child_text("", "faultstring"), Some(text.as_str()));
    }
}

#[test]
fn response_codes_are_spelt_once_each_as_ews_spells_them() {
    let spellings: std::collections::HashSet<&str> = ResponseCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(spellings.len(), ResponseCode::ALL.len());
    for code in ResponseCode::ALL {
        assert!(code.as_str().starts_with("Error") || code == ResponseCode::VersionMismatch, "{code:?}");
    }
}
