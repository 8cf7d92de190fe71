#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Act-as callers in their own mailbox: every operation, paging and filters, deletes that move,
//! contacts with change keys and conflicts, and items refused for missing fields.

use super::*;

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
