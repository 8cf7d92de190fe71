//! `s2sd demo hybrid`: the cross-premises flow on loopback, configured only through the CLI in
//! the order of the products' hybrid setup steps. An authority node plays Azure ACS for a tenant;
//! the on-premises exchange node trusts it (New-AuthServer) and accepts the cloud Skype for
//! Business partner through it (New-PartnerApplication -UseAuthServer, linked account with roles);
//! the cloud lync node's certificate is uploaded to its service principal
//! (New-MsolServicePrincipalCredential) and the on-premises host names are registered as SPNs. The
//! cloud node then obtains a token from the authority and writes into kenmyer's Conversation
//! History on-premises, and `s2sd test storage-connectivity` passes from the cloud side.

use std::process::ExitCode;
use std::time::Duration;

use s2s::principal::{EXCHANGE, LYNC};
use tokio_util::sync::CancellationToken;

use super::demo::{caught_up, cli, start, step, tempdir};
use crate::server::Running;

const ONPREM_REALM: &str = "litwareinc.com";
const TENANT: &str = "3cb5e8a4-7e7c-4d33-9a4f-8e2c0b8e0b4d";
const USER: &str = "sip:kenmyer@litwareinc.com";
const ACS_ID: &str = "00000001-0000-0000-c000-000000000000";

pub async fn run(dir: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    let temp = tempdir()?;
    let dir = dir.unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&dir)?;
    let store = |n: &str| format!("sqlite:{}", dir.join(format!("{n}.db")).display());
    let (acs, onprem, cloud) = (store("authority"), store("onprem-exchange"), store("cloud-lync"));
    println!("== s2s demo: hybrid — authority (tenant {TENANT}), on-premises exchange, cloud lync");
    println!("export ACS={acs}\nexport ONPREM={onprem}\nexport CLOUD={cloud}\n");

    step("The authorization server: its signing certificate and the tenant");
    cli("$ACS", &acs, &["oauth-config", "set", "--realm", TENANT, "--service-name", ACS_ID]).await?;
    cli("$ACS", &acs, &["certificate", "new"]).await?;
    cli("$ACS", &acs, &["tenant", "new", "--realm", TENANT, "--name", "litwareinc"]).await?;

    step("The on-premises exchange node: realm, certificate, kenmyer's mailbox");
    cli(
        "$ONPREM",
        &onprem,
        &["oauth-config", "set", "--realm", ONPREM_REALM, "--service-name", "exchange", "--additional-realm", TENANT],
    )
    .await?;
    cli("$ONPREM", &onprem, &["certificate", "new"]).await?;
    cli(
        "$ONPREM",
        &onprem,
        &["mailbox", "user", "new", "--smtp", "kenmyer@litwareinc.com", "--sip", USER, "--display-name", "Ken Myer"],
    )
    .await?;

    step("The cloud lync node (Skype for Business Online): realm = the tenant");
    cli("$CLOUD", &cloud, &["oauth-config", "set", "--realm", TENANT, "--service-name", "lync"]).await?;
    cli("$CLOUD", &cloud, &["certificate", "new"]).await?;

    step("Start the three servers");
    let cancel = CancellationToken::new();
    let authority = start(&acs, dir.join("authority-tls"), cancel.clone()).await?;
    let exchange = start(&onprem, dir.join("onprem-tls"), cancel.clone()).await?;
    let lync = start(&cloud, dir.join("cloud-tls"), cancel.clone()).await?;
    let result = scenario(&dir, &authority, &exchange, &lync, &acs, &onprem, &cloud).await;
    cancel.cancel();
    for r in [authority, exchange, lync] {
        let _ = tokio::time::timeout(Duration::from_secs(10), r.done).await;
    }
    if temp.exists() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result?;
    println!("\nHybrid demo finished: all three servers stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn scenario(
    dir: &std::path::Path,
    authority: &Running,
    exchange: &Running,
    lync: &Running,
    acs: &str,
    onprem: &str,
    cloud: &str,
) -> anyhow::Result<()> {
    let tls = |r: &Running| r.tls_cert.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let acs_md = format!("https://{}/{TENANT}/metadata/json/1", authority.addr);
    let exchange_md = format!("https://{}/autodiscover/metadata/json/1", exchange.addr);

    step("Service principals in the tenant, with the on-premises host names as SPNs (wildcard allowed)");
    let spn_host = format!("{EXCHANGE}/{}", exchange.addr.ip());
    let spn_wild = format!("{EXCHANGE}/*.litwareinc.com");
    cli(
        "$ACS",
        acs,
        &[
            "service-principal",
            "new",
            "--tenant",
            TENANT,
            "--app-id",
            EXCHANGE,
            "--display-name",
            "Exchange",
            "--spn",
            &spn_host,
            "--spn",
            &spn_wild,
        ],
    )
    .await?;
    cli(
        "$ACS",
        acs,
        &[
            "service-principal",
            "new",
            "--tenant",
            TENANT,
            "--app-id",
            LYNC,
            "--display-name",
            "Skype for Business Online",
        ],
    )
    .await?;

    step(
        "Upload the cloud node's token-issuer certificate to its service principal (New-MsolServicePrincipalCredential -Type asymmetric -Usage Verify)",
    );
    let cert = dir.join("cloud-lync.cer");
    cli("$CLOUD", cloud, &["certificate", "export", "--format", "pem", "--out", &cert.display().to_string()]).await?;
    cli(
        "$ACS",
        acs,
        &[
            "service-principal",
            "credential",
            "add",
            "--tenant",
            TENANT,
            "--app-id",
            LYNC,
            "--type",
            "asymmetric",
            "--usage",
            "verify",
            "--certificate",
            &cert.display().to_string(),
        ],
    )
    .await?;

    step("On-premises: trust the authorization server (New-AuthServer -Name WindowsAzureACS)");
    cli(
        "$ONPREM",
        onprem,
        &["auth-server", "new", "--name", "WindowsAzureACS", "--metadata-url", &acs_md, "--tls-ca", &tls(authority)],
    )
    .await?;
    step(
        "On-premises: the linked account with UserApplication and ArchiveApplication, and the cloud partner through the auth server",
    );
    cli(
        "$ONPREM",
        onprem,
        &[
            "mailbox",
            "user",
            "new",
            "--smtp",
            "sfbonline-applicationaccount@litwareinc.com",
            "--display-name",
            "SfBOnline-ApplicationAccount",
        ],
    )
    .await?;
    cli(
        "$ONPREM",
        onprem,
        &[
            "role-assignment",
            "new",
            "--role",
            "UserApplication",
            "--user",
            "sfbonline-applicationaccount@litwareinc.com",
        ],
    )
    .await?;
    cli(
        "$ONPREM",
        onprem,
        &[
            "role-assignment",
            "new",
            "--role",
            "ArchiveApplication",
            "--user",
            "sfbonline-applicationaccount@litwareinc.com",
        ],
    )
    .await?;
    cli(
        "$ONPREM",
        onprem,
        &[
            "partner-application",
            "new",
            "--identity",
            "SfBOnline",
            "--application-identifier",
            LYNC,
            "--realm",
            "",
            "--use-auth-server",
            "--trust-level",
            "full",
            "--linked-account",
            "sfbonline-applicationaccount@litwareinc.com",
        ],
    )
    .await?;

    step(
        "Cloud: trust the same authorization server, and know the on-premises Exchange as a partner that takes tokens from it",
    );
    cli(
        "$CLOUD",
        cloud,
        &["auth-server", "new", "--name", "WindowsAzureACS", "--metadata-url", &acs_md, "--tls-ca", &tls(authority)],
    )
    .await?;
    cli(
        "$CLOUD",
        cloud,
        &[
            "partner-application",
            "new",
            "--identity",
            "Exchange",
            "--metadata-url",
            &exchange_md,
            "--tls-ca",
            &tls(exchange),
            "--use-auth-server",
            "--trust-level",
            "full",
        ],
    )
    .await?;
    caught_up(authority, acs).await?;
    caught_up(exchange, onprem).await?;
    caught_up(lync, cloud).await?;

    step("The cloud node writes into kenmyer's Conversation History on-premises (token from the authority)");
    cli("$CLOUD", cloud, &["test", "storage-connectivity", "--sip-uri", USER]).await?;
    step("On-premises: the item is in the Conversation History folder");
    cli(
        "$ONPREM",
        onprem,
        &["mailbox", "item", "list", "--user", "kenmyer@litwareinc.com", "--folder", "conversationhistory"],
    )
    .await?;

    step("Test-CsExStorageConnectivity -DeleteItem from the cloud side");
    cli("$CLOUD", cloud, &["test", "storage-connectivity", "--sip-uri", USER, "--delete-item"]).await?;

    Ok(())
}
