#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Who may open which mailbox over HTTP: act-as users resolved by their claims (6001/6002),
//! impersonation and anchor mailboxes by linked accounts and their roles, the archive role, and
//! app-only tokens without a usable linked account.

use super::*;

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
            nii: Some(crate::mailbox::NII_ACTIVE_DIRECTORY.into()),
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
        nii: Some(crate::mailbox::NII_ACTIVE_DIRECTORY.into()),
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
    let linked = crate::mailbox::find_by_address(mailbox, "norights@litwareinc.com").await.unwrap();
    assert!(mailbox.remove_user(&linked.id).await.unwrap());
    let a = site.post("/EWS/Exchange.asmx", Some(&app_only(&site.reader)), &[], op).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.diagnostics().starts_with("6001;"), "{}", a.diagnostics());
}
