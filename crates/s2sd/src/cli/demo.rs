//! `s2sd demo`: two servers on loopback — a lync node and an exchange node in realm
//! litwareinc.com — configured as an admin would (each step prints the command; configuration
//! changes go through the admin layer, as the CLI's do), trusting each other by metadata URL; an
//! act-as call for sip:kenmyer@litwareinc.com succeeds, then the partner is disabled on the
//! exchange side and the refusal is shown with its diagnosis. Leaves nothing running.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use s2s::principal::EXCHANGE;
use s2s::token::UserClaims;
use tokio_util::sync::CancellationToken;

use s2s::partner::TrustLevel;

use super::{Cli, Printer};
use crate::admin::{self, Admin, NewPartner, PartnerSource, SetOAuthConfig, SetPartner};
use crate::server::{self, Running, ServeOptions, TlsSource};
use crate::store::{self, PartnerKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the demo's stores and certificates in this directory instead of a temporary one.
    #[arg(long, global = true)]
    pub dir: Option<std::path::PathBuf>,
    /// Another scenario than the two-server one.
    #[command(subcommand)]
    pub scenario: Option<Scenario>,
}

/// Demo scenarios.
#[derive(Debug, clap::Subcommand)]
pub enum Scenario {
    /// Cross-premises: an authorization server, an on-premises exchange node and a cloud lync node.
    Hybrid,
}

const REALM: &str = "litwareinc.com";
const USER: &str = "sip:kenmyer@litwareinc.com";

pub async fn run(args: Args, _out: &Printer) -> anyhow::Result<ExitCode> {
    if let Some(Scenario::Hybrid) = args.scenario {
        return super::demo_hybrid::run(args.dir).await;
    }
    let temp = tempdir()?;
    let dir = args.dir.unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&dir)?;
    let lync_store = format!("sqlite:{}", dir.join("lync.db").display());
    let exchange_store = format!("sqlite:{}", dir.join("exchange.db").display());
    println!("== s2s demo: two servers, realm {REALM}");
    println!("export LYNC={lync_store}\nexport EXCHANGE={exchange_store}\n");

    step("Configure the lync node (Set-CsOAuthConfiguration, Set-CsCertificate -Type OAuthTokenIssuer)");
    let lync_admin = admin(
        "$LYNC",
        &lync_store,
        &["oauth-config", "set", "--realm", REALM, "--service-name", "lync", "--hostname", "atl-cs-001.litwareinc.com"],
    )
    .await?;
    let (change, _) = lync_admin
        .set_oauth_config(SetOAuthConfig {
            realm: Some(REALM.into()),
            service_name: Some("lync".into()),
            hostnames: vec!["atl-cs-001.litwareinc.com".into()],
            ..SetOAuthConfig::default()
        })
        .await?;
    println!("{change}");
    cli("$LYNC", &lync_store, &["certificate", "new"]).await?;
    step("Configure the exchange node (Set-AuthConfig)");
    let exchange_admin = admin(
        "$EXCHANGE",
        &exchange_store,
        &[
            "oauth-config",
            "set",
            "--realm",
            REALM,
            "--service-name",
            "exchange",
            "--hostname",
            "atl-exchange-001.litwareinc.com",
        ],
    )
    .await?;
    let (change, _) = exchange_admin
        .set_oauth_config(SetOAuthConfig {
            realm: Some(REALM.into()),
            service_name: Some("exchange".into()),
            hostnames: vec!["atl-exchange-001.litwareinc.com".into()],
            ..SetOAuthConfig::default()
        })
        .await?;
    println!("{change}");
    cli("$EXCHANGE", &exchange_store, &["certificate", "new"]).await?;
    step("The exchange node hosts kenmyer's mailbox (New-Mailbox)");
    cli(
        "$EXCHANGE",
        &exchange_store,
        &["mailbox", "user", "new", "--smtp", "kenmyer@litwareinc.com", "--sip", USER, "--display-name", "Ken Myer"],
    )
    .await?;

    step("Start both servers (s2sd serve), HTTPS with self-signed certificates");
    let cancel = CancellationToken::new();
    let lync = start(&lync_store, dir.join("lync-tls"), cancel.clone()).await?;
    let exchange = start(&exchange_store, dir.join("exchange-tls"), cancel.clone()).await?;
    println!(
        "lync:     https://{}/metadata/json/1\nexchange: https://{}/autodiscover/metadata/json/1",
        lync.addr, exchange.addr
    );
    let result = scenario(&lync, &exchange, &lync_store, &exchange_store).await;
    cancel.cancel();
    for r in [lync, exchange] {
        let _ = tokio::time::timeout(Duration::from_secs(10), r.done).await;
    }
    if temp.exists() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result?;
    println!("\nDemo finished: both servers stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn scenario(lync: &Running, exchange: &Running, lync_store: &str, exchange_store: &str) -> anyhow::Result<()> {
    let path = |r: &Running| r.tls_cert.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    step("Each registers the other as a partner application by metadata URL, trust level Full");
    let exchange_md = format!("https://{}/autodiscover/metadata/json/1", exchange.addr);
    let lync_md = format!("https://{}/metadata/json/1", lync.addr);
    for (label, store_url, name, metadata_url, target) in [
        ("$LYNC", lync_store, "Exchange", &exchange_md, exchange),
        ("$EXCHANGE", exchange_store, "Lync", &lync_md, lync),
    ] {
        let ca_file = path(target);
        let typed = [
            "partner-application",
            "new",
            "--identity",
            name,
            "--metadata-url",
            metadata_url,
            "--trust-level",
            "full",
            "--tls-ca",
            &ca_file,
        ];
        let node = admin(label, store_url, &typed).await?;
        let ca = std::fs::read_to_string(&ca_file).with_context(|| format!("cannot read {ca_file}"))?;
        let now = super::now();
        let fetched = admin::fetch_metadata(metadata_url, false, Some(&ca), now).await?;
        let (change, _) = node
            .new_partner(
                NewPartner {
                    kind: PartnerKind::Application,
                    name: name.into(),
                    source: PartnerSource::Metadata(fetched),
                    realm: None,
                    trust_level: TrustLevel::Full,
                    enabled: true,
                    allow_http_metadata: false,
                    tls_ca_pem: Some(ca),
                    metadata_refresh_interval: None,
                    linked_account: None,
                    accept_security_identifier_information: false,
                    use_auth_server: false,
                },
                now,
            )
            .await?;
        println!("{change}");
    }
    caught_up(exchange, exchange_store).await?;
    caught_up(lync, lync_store).await?;

    step(&format!("The lync node calls the exchange node's /s2s/whoami acting for {USER}"));
    let client = https_client(exchange)?;
    let url = url::Url::parse(&format!("https://{}/s2s/whoami", exchange.addr))?;
    let user = UserClaims::from_address(USER).context("demo user")?;
    let auth = lync.state.issuer.authorization(EXCHANGE, &url, Some(&user))?;
    let resp = client.get(url.clone()).header("Authorization", &auth).send().await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    println!("HTTP {status}\n{}", serde_json::to_string_pretty(&body)?);
    if !status.is_success() {
        bail!("the act-as call was refused: {body}");
    }

    step(&format!("Test-CsExStorageConnectivity -SipUri {USER} -DeleteItem, from the lync node"));
    cli("$LYNC", lync_store, &["test", "storage-connectivity", "--sip-uri", USER, "--delete-item"]).await?;

    step("Exchange archiving: the lync node saves an IM transcript in kenmyer's archive");
    let transcript = std::env::temp_dir().join(format!("s2s-demo-transcript-{}.txt", std::process::id()));
    std::fs::write(
        &transcript,
        "[10:02] Ken Myer: Can we move the review to Thursday?\n[10:03] Pilar Ackerman: Thursday 2 pm works.\n",
    )?;
    let archived = cli(
        "$LYNC",
        lync_store,
        &[
            "archive",
            "conversation",
            "--sip-uri",
            USER,
            "--transcript",
            &transcript.display().to_string(),
            "--subject",
            "Conversation with Pilar Ackerman",
        ],
    )
    .await;
    let _ = std::fs::remove_file(&transcript);
    archived?;

    step("Unified contact store: the lync node adds a contact to kenmyer's mailbox and lists them");
    cli(
        "$LYNC",
        lync_store,
        &[
            "contacts",
            "add",
            "--sip-uri",
            USER,
            "--display-name",
            "Pilar Ackerman",
            "--given-name",
            "Pilar",
            "--surname",
            "Ackerman",
            "--email",
            "pilar@litwareinc.com",
            "--contact-sip",
            "pilar@litwareinc.com",
            "--phone",
            "+1 425 555 0100",
        ],
    )
    .await?;
    cli("$LYNC", lync_store, &["contacts", "list", "--sip-uri", USER]).await?;
    step("What landed in kenmyer's mailbox on the exchange node");
    cli("$EXCHANGE", exchange_store, &["mailbox", "item", "list", "--user", "kenmyer@litwareinc.com"]).await?;

    step("Disable the Lync partner on the exchange node (Set-PartnerApplication -Enabled $false), no restart");
    let exchange_admin =
        admin("$EXCHANGE", exchange_store, &["partner-application", "set", "Lync", "--enabled", "false"]).await?;
    let disable = SetPartner { name: "Lync".into(), enabled: Some(false), ..SetPartner::default() };
    let (change, _) = exchange_admin.set_partner(disable, super::now()).await?;
    println!("{change}");
    caught_up(exchange, exchange_store).await?;
    let resp = client.get(url).header("Authorization", &auth).send().await?;
    let status = resp.status();
    let challenge = header(&resp, "www-authenticate");
    let diagnostics = header(&resp, "x-ms-diagnostics");
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    println!("HTTP {status}\nWWW-Authenticate: {challenge}\nx-ms-diagnostics: {diagnostics}");
    if status != reqwest::StatusCode::UNAUTHORIZED {
        bail!("expected 401 after disabling the partner, got {status}");
    }
    let reason = body["reason"].as_str().unwrap_or_default();
    let code = crate::diagnosis::parse_header(&diagnostics).map_or(0, |(c, _)| c);
    let d = crate::diagnosis::explain(reason, code, Some("Lync"));
    println!("Diagnosis: {}\nFix:       {}", d.cause, d.fix);

    step("The storage connectivity test now fails, with its diagnosis");
    let failed = cli("$LYNC", lync_store, &["test", "storage-connectivity", "--sip-uri", USER]).await;
    if failed.is_ok() {
        bail!("the storage connectivity test passed although the partner is disabled");
    }
    Ok(())
}

pub(super) fn step(text: &str) {
    println!("\n-- {text}");
}

/// The admin layer over `store`, after echoing the command an admin would type for the change the
/// demo then makes through it.
pub(super) async fn admin(label: &str, store: &str, args: &[&str]) -> anyhow::Result<Admin> {
    echo(label, args);
    Ok(Admin::new(&store::open_stores(store).await?))
}

/// Prints `$ s2sd --store LABEL args…`, quoting arguments with spaces.
fn echo(label: &str, args: &[&str]) {
    let shown: Vec<String> =
        args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { (*a).to_owned() }).collect();
    println!("$ s2sd --store {label} {}", shown.join(" "));
}

/// Runs one CLI command in-process against `store`, echoing it as an admin would type it.
pub(super) async fn cli(label: &str, store: &str, args: &[&str]) -> anyhow::Result<()> {
    echo(label, args);
    let mut argv = vec!["s2sd", "--store", store];
    argv.extend_from_slice(args);
    let parsed = Cli::try_parse_from(argv)?;
    let code = Box::pin(super::run(parsed)).await?;
    if code != ExitCode::SUCCESS {
        bail!("`s2sd {}` failed", args.join(" "));
    }
    Ok(())
}

pub(super) async fn start(
    store_url: &str,
    tls_dir: std::path::PathBuf,
    cancel: CancellationToken,
) -> anyhow::Result<Running> {
    let stores = store::open_stores(store_url).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let options = ServeOptions {
        tls: Some(TlsSource::SelfSigned { dir: tls_dir, names: Vec::new() }),
        refresh: Default::default(),
        poll: Duration::from_millis(200),
    };
    Ok(server::start(stores, s2s::clock::system(), options, listener, cancel).await?)
}

/// Waits until a running node has applied the store's latest version (live reload, no restart).
pub(super) async fn caught_up(node: &Running, store_url: &str) -> anyhow::Result<()> {
    let store = store::open(store_url).await?;
    let want = store.version().await?;
    for _ in 0..50 {
        if node.state.version.load(std::sync::atomic::Ordering::Relaxed) >= want {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not apply configuration version {want} within 5 s")
}

pub(super) fn https_client(target: &Running) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(target.tls_cert.as_ref().context("the target has no TLS certificate")?)?;
    Ok(reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem)?)
        .timeout(Duration::from_secs(10))
        .build()?)
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

pub(super) fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let base = std::env::temp_dir().join(format!("s2s-demo-{}", std::process::id()));
    if base.exists() {
        std::fs::remove_dir_all(&base)?;
    }
    Ok(base)
}
