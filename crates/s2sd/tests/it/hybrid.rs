//! The cross-premises flow end to end: `s2sd demo hybrid` configures an authority, an on-premises
//! exchange node and a cloud lync node through the CLI only, and the cloud node's storage
//! connectivity test passes with a token the authority issued, leaving the item in kenmyer's
//! Conversation History on-premises.

#[test]
fn cloud_node_writes_into_the_on_premises_conversation_history_through_the_authority() {
    let out = assert_cmd::Command::cargo_bin("s2sd")
        .unwrap()
        .args(["demo", "hybrid"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("Result: PASS").count(), 2, "{stdout}");
    let listing = stdout.split("the item is in the Conversation History folder").nth(1).unwrap_or_default();
    assert!(
        listing.lines().any(|l| l.starts_with("conversationhistory") && l.contains("s2s storage connectivity test")),
        "{stdout}"
    );
    assert!(stdout.contains("auth-server new --name WindowsAzureACS"), "configured through the CLI: {stdout}");
    assert!(stdout.contains("--use-auth-server"), "{stdout}");
}
