//! `s2sd demo hybrid`: the cross-premises flow on loopback, configured as an admin would (each step
//! prints its command; configuration changes go through the admin layer) in the order of the
//! products' hybrid setup steps. An authority node plays Azure ACS for a tenant;
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

use anyhow::Context as _;
use s2s::partner::TrustLevel;

use super::demo::{admin, caught_up, cli, start, step, tempdir};
use super::now;
use crate::admin::{self, NewPartner, NewServicePrincipal, NewTenant, PartnerSource, SetOAuthConfig};
use crate::server::Running;
use crate::store::PartnerKind;

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
    identity("$ACS", &acs, TENANT, ACS_ID, &[]).await?;
    cli("$ACS", &acs, &["certificate", "new"]).await?;
    let authority_admin = admin("$ACS", &acs, &["tenant", "new", "--realm", TENANT, "--name", "litwareinc"]).await?;
    let (change, _) = authority_admin
        .new_tenant(NewTenant { realm: Some(TENANT.into()), name: Some("litwareinc".into()) }, now())
        .await?;
    println!("{change}");

    step("The on-premises exchange node: realm, certificate, kenmyer's mailbox");
    identity("$ONPREM", &onprem, ONPREM_REALM, "exchange", &[TENANT]).await?;
    cli("$ONPREM", &onprem, &["certificate", "new"]).await?;
    cli(
        "$ONPREM",
        &onprem,
        &["mailbox", "user", "new", "--smtp", "kenmyer@litwareinc.com", "--sip", USER, "--display-name", "Ken Myer"],
    )
    .await?;

    step("The cloud lync node (Skype for Business Online): realm = the tenant");
    identity("$CLOUD", &cloud, TENANT, "lync", &[]).await?;
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
    let principals = [
        (EXCHANGE, "Exchange", vec![spn_host.clone(), spn_wild.clone()]),
        (LYNC, "Skype for Business Online", Vec::new()),
    ];
    for (app_id, display_name, spns) in principals {
        let mut typed =
            vec!["service-principal", "new", "--tenant", TENANT, "--app-id", app_id, "--display-name", display_name];
        for spn in &spns {
            typed.extend(["--spn", spn.as_str()]);
        }
        let node = admin("$ACS", acs, &typed).await?;
        let cmd = NewServicePrincipal {
            tenant: TENANT.into(),
            app_id: app_id.into(),
            display_name: display_name.into(),
            spns,
            enabled: true,
        };
        let (change, _) = node.new_service_principal(cmd, now()).await?;
        println!("{change}");
    }

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
    trust_auth_server("$ONPREM", onprem, &acs_md, &tls(authority)).await?;
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
    let typed = [
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
    ];
    let onprem_admin = admin("$ONPREM", onprem, &typed).await?;
    let source = PartnerSource::Certificate {
        application_id: LYNC.into(),
        realm: admin::normalize_realm(""),
        certificates: Vec::new(),
    };
    let linked = admin::normalize_linked_account("sfbonline-applicationaccount@litwareinc.com")?;
    let (change, _) = onprem_admin.new_partner(partner("SfBOnline", source, linked), now()).await?;
    println!("{change}");

    step(
        "Cloud: trust the same authorization server, and know the on-premises Exchange as a partner that takes tokens from it",
    );
    trust_auth_server("$CLOUD", cloud, &acs_md, &tls(authority)).await?;
    let ca_file = tls(exchange);
    let typed = [
        "partner-application",
        "new",
        "--identity",
        "Exchange",
        "--metadata-url",
        &exchange_md,
        "--tls-ca",
        &ca_file,
        "--use-auth-server",
        "--trust-level",
        "full",
    ];
    let cloud_admin = admin("$CLOUD", cloud, &typed).await?;
    let ca = std::fs::read_to_string(&ca_file).with_context(|| format!("cannot read {ca_file}"))?;
    let fetched = admin::fetch_metadata(&exchange_md, false, Some(&ca), now()).await?;
    let mut cmd = partner("Exchange", PartnerSource::Metadata(fetched), None);
    cmd.tls_ca_pem = Some(ca);
    let (change, _) = cloud_admin.new_partner(cmd, now()).await?;
    println!("{change}");
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

/// Sets a node's realm, service name and additional realms through the admin layer, showing the
/// command an admin would type.
async fn identity(
    label: &str,
    store: &str,
    realm: &str,
    service_name: &str,
    additional: &[&str],
) -> anyhow::Result<()> {
    let mut typed = vec!["oauth-config", "set", "--realm", realm, "--service-name", service_name];
    for r in additional {
        typed.extend(["--additional-realm", r]);
    }
    let node = admin(label, store, &typed).await?;
    let cmd = SetOAuthConfig {
        realm: Some(realm.into()),
        service_name: Some(service_name.into()),
        additional_realms: additional.iter().map(|r| (*r).to_owned()).collect(),
        ..SetOAuthConfig::default()
    };
    let (change, _) = node.set_oauth_config(cmd).await?;
    println!("{change}");
    Ok(())
}

/// Registers the authority as `WindowsAzureACS` by its metadata URL (New-AuthServer).
async fn trust_auth_server(label: &str, store: &str, metadata_url: &str, ca_file: &str) -> anyhow::Result<()> {
    let typed =
        ["auth-server", "new", "--name", "WindowsAzureACS", "--metadata-url", metadata_url, "--tls-ca", ca_file];
    let node = admin(label, store, &typed).await?;
    let ca = std::fs::read_to_string(ca_file).with_context(|| format!("cannot read {ca_file}"))?;
    let fetched = admin::fetch_metadata(metadata_url, false, Some(&ca), now()).await?;
    let mut cmd = partner("WindowsAzureACS", PartnerSource::Metadata(fetched), None);
    cmd.kind = PartnerKind::AuthServer;
    cmd.trust_level = TrustLevel::Application;
    cmd.use_auth_server = false;
    cmd.tls_ca_pem = Some(ca);
    let (change, _) = node.new_partner(cmd, now()).await?;
    println!("{change}");
    Ok(())
}

/// A partner application with full trust that takes its tokens from the authorization server.
fn partner(name: &str, source: PartnerSource, linked_account: Option<String>) -> NewPartner {
    NewPartner {
        kind: PartnerKind::Application,
        name: name.into(),
        source,
        realm: None,
        trust_level: TrustLevel::Full,
        enabled: true,
        allow_http_metadata: false,
        tls_ca_pem: None,
        metadata_refresh_interval: None,
        linked_account,
        accept_security_identifier_information: false,
        use_auth_server: true,
    }
}
