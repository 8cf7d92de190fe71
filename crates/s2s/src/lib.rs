//! # s2s
//!
//! Mint and accept server-to-server (S2S) OAuth tokens, wire-compatible with the built-in token
//! issuers of Exchange, SharePoint and Skype for Business / Lync Server.
//!
//! - [`token`]: the wire format — compact JWS, actor tokens, outer (`alg=none`) tokens, keys, `x5t`.
//! - [`metadata`]: the `/metadata/json/1` document (lenient reader, canonical writer, fetch).
//! - [`partner`]: who we trust now — key rings published as snapshots, background refresh.
//! - [`validate`]: the decision, in Exchange's order, with Exchange's error numbers.
//! - [`middleware`]: a tower layer and an axum extractor for the authenticated caller.
//! - [`client`]: minting our own tokens for outbound calls, cached per audience.
//! - [`challenge`]: the `WWW-Authenticate: Bearer` challenge, built and parsed.
//!
//! ```no_run
//! use std::sync::Arc;
//! use s2s::partner::{LocalIdentity, TrustStore};
//! use s2s::validate::Validator;
//!
//! let local = LocalIdentity { app_id: s2s::principal::EXCHANGE.into(), realm: "litwareinc.com".into(), ..Default::default() };
//! let trust = Arc::new(TrustStore::new(local, Vec::new()));
//! let validator = Arc::new(Validator::new(trust, s2s::clock::system()));
//! let app = axum::Router::<()>::new()
//!     .route("/whoami", axum::routing::get(|s2s::middleware::Caller(c): s2s::middleware::Caller| async move { c.partner.clone() }))
//!     .layer(s2s::middleware::S2sLayer::new(s2s::middleware::S2sAuth::new(validator)));
//! # let _ = app;
//! ```

pub mod challenge;
pub mod client;
pub mod clock;
pub mod metadata;
#[cfg(feature = "middleware")]
pub mod middleware;
pub mod partner;
pub mod principal;
pub mod token;
pub mod validate;
