//! Downloads a partner's metadata document: https only unless allowed, an optional private CA,
//! a timeout, and a body cap applied while reading. Every failure is one line that says what to do.

use std::time::Duration;

use super::{MAX_METADATA_BYTES, MetadataDocument, MetadataError};

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Allow `http://` URLs (otherwise refused before any connection).
    pub allow_http: bool,
    /// PEM certificates to trust instead of the system roots (a private CA or a self-signed server).
    pub ca_pem: Option<Vec<u8>>,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self { allow_http: false, ca_pem: None, timeout: Duration::from_secs(10) }
    }
}

/// Why a metadata document could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not a URL.
    #[error("`{url}` is not a valid URL: {detail}")]
    InvalidUrl {
        /// The input.
        url: String,
        /// Why.
        detail: String,
    },
    /// Plain http without permission.
    #[error("`{0}` uses plain http; metadata must come over https (pass --allow-http-metadata to accept it)")]
    PlainHttp(String),
    /// Neither http nor https.
    #[error("`{0}` is not an http(s) URL")]
    UnsupportedScheme(String),
    /// An https URL redirected to plain http (a downgrade) without permission, or to a URL that is
    /// not http(s).
    #[error(
        "`{url}` redirects to `{to}`; metadata must come over https all the way (pass --allow-http-metadata to follow a redirect to plain http)"
    )]
    InsecureRedirect {
        /// The URL asked for.
        url: String,
        /// Where it redirected.
        to: String,
    },
    /// More redirects than [`MAX_REDIRECTS`].
    #[error("`{url}` redirects more than {MAX_REDIRECTS} times")]
    TooManyRedirects {
        /// The URL asked for.
        url: String,
    },
    /// The CA file is not PEM certificates.
    #[error("the trusted CA is not a PEM certificate bundle: {0}")]
    BadCa(String),
    /// The server's TLS certificate is not trusted.
    #[error(
        "the TLS certificate of {url} is not trusted ({detail}); give the CA or the server's certificate with --tls-ca FILE"
    )]
    UntrustedCertificate {
        /// The URL.
        url: String,
        /// The verifier's words.
        detail: String,
    },
    /// Connection or DNS failure, or timeout.
    #[error("metadata URL {url} is unreachable: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The cause chain, one line.
        detail: String,
    },
    /// A non-2xx answer.
    #[error("metadata URL {url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is over the limit.
    #[error("metadata URL {url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The body is not a usable document.
    #[error("metadata from {url} is unusable: {source}")]
    Document {
        /// The URL.
        url: String,
        /// Why.
        source: MetadataError,
    },
}

/// Redirects followed before a fetch gives up.
pub const MAX_REDIRECTS: usize = 3;

/// Why the redirect policy stopped a fetch (carried through reqwest's error chain).
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("redirect to {0} refused")]
    Insecure(String),
    #[error("too many redirects")]
    TooMany,
}

/// Follows at most [`MAX_REDIRECTS`] redirects, each to https (or to plain http when allowed).
fn redirect_policy(allow_http: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany);
        }
        match attempt.url().scheme() {
            "https" => attempt.follow(),
            "http" if allow_http => attempt.follow(),
            _ => {
                let to = attempt.url().to_string();
                attempt.error(RedirectRefused::Insecure(to))
            }
        }
    })
}

/// Fetches and parses a metadata document (keys are checked by `MetadataDocument::check`).
pub async fn fetch(url: &str, options: &FetchOptions) -> Result<MetadataDocument, FetchError> {
    let parsed = url::Url::parse(url).map_err(|e| FetchError::InvalidUrl { url: url.into(), detail: e.to_string() })?;
    match parsed.scheme() {
        "https" => {}
        "http" if options.allow_http => {}
        "http" => return Err(FetchError::PlainHttp(url.into())),
        _ => return Err(FetchError::UnsupportedScheme(url.into())),
    }
    let mut builder = reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout.min(Duration::from_secs(5)))
        .redirect(redirect_policy(options.allow_http))
        .user_agent(concat!("s2s/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &options.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| FetchError::BadCa(e.to_string()))?;
        if certs.is_empty() {
            return Err(FetchError::BadCa("no certificate in it".into()));
        }
        builder = builder.tls_certs_only(certs);
    }
    let client = builder.build().map_err(|e| FetchError::Unreachable { url: url.into(), detail: chain(&e) })?;
    let mut response =
        client.get(parsed).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(|e| {
            if let Some(refused) = find_source::<RedirectRefused>(&e) {
                return match refused {
                    RedirectRefused::Insecure(to) => FetchError::InsecureRedirect { url: url.into(), to: to.clone() },
                    RedirectRefused::TooMany => FetchError::TooManyRedirects { url: url.into() },
                };
            }
            let detail = chain(&e);
            match detail.find("invalid peer certificate") {
                Some(i) => FetchError::UntrustedCertificate { url: url.into(), detail: detail[i..].to_owned() },
                None => FetchError::Unreachable { url: url.into(), detail },
            }
        })?;
    if !response.status().is_success() {
        return Err(FetchError::Status { url: url.into(), status: response.status().as_u16() });
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| FetchError::Unreachable { url: url.into(), detail: chain(&e) })?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(FetchError::TooLarge { url: url.into(), limit: MAX_METADATA_BYTES });
        }
        body.extend_from_slice(&chunk);
    }
    MetadataDocument::parse(&body).map_err(|source| FetchError::Document { url: url.into(), source })
}

/// The first error of type `T` in `e`'s cause chain.
fn find_source<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = err.source();
    }
    None
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
