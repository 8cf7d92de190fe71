#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The authority's tests. `model`: SPN matching, the failure counter, replay memory, secrets.
//! `request`: form parsing of every body shape real clients send (interop.md #2). `grant`: the
//! pure decision, request by request. `token`, `refusals`, `discovery`: the HTTP surface
//! in-process (`tower::ServiceExt::oneshot` on the authority's routes over a published
//! configuration and a fixed clock, `fixture`): every bad input answers its exact OAuth error
//! with a description that names the fix, successes answer interop.md #3's shape, and issued
//! tokens validate at a resource server that trusts this authority.

mod discovery;
mod fixture;
mod grant;
mod hardening;
mod model;
mod refusals;
mod replay;
mod request;
mod token;

use s2s::principal::SHAREPOINT;

const NOW: i64 = 1_900_000_000;
const REALM: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const HOST: &str = "sts.litwareinc.com";
const TOKEN_PATH: &str = "/72f988bf-86f1-41af-91ab-2d7cd011db47/tokens/OAuth/2";
const TOKEN_URL: &str = "https://sts.litwareinc.com/72f988bf-86f1-41af-91ab-2d7cd011db47/tokens/OAuth/2";
const CLIENT: &str = "c3ab8885-458f-4864-8804-1608145e2ac4";
const EXPIRED: &str = "e0000000-0000-4000-8000-000000000001";
const FUTURE: &str = "f0000000-0000-4000-8000-000000000001";
const DISABLED: &str = "d0000000-0000-4000-8000-000000000001";
const SP_HOST: &str = "sp.contoso.com";

fn resource() -> String {
    format!("{SHAREPOINT}/{SP_HOST}@{REALM}")
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}
