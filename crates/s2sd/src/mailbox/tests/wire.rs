#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Bad input over HTTP (SOAP faults, nothing stored), every path spelling, and the challenge.

use super::*;

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
    let big = vec![b' '; crate::mailbox::ews::soap::MAX_BODY_BYTES + 1];
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
    for path in crate::mailbox::ews::PATHS {
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
