//! The wire format of S2S tokens: compact JWS, actor tokens, outer (`alg=none`) tokens, keys and
//! thumbprints. Pure: no I/O, no clock reads, no global state — callers pass `now` in.

pub mod actor;
pub mod assertion;
mod claims;
mod error;
pub mod jws;
pub mod keys;
pub mod outer;
pub mod thumbprint;

pub use actor::{ActorClaims, ActorToken};
pub use assertion::{Assertion, AssertionError, VerifiedAssertion};
pub use error::TokenError;
pub use jws::{Compact, Header, MAX_TOKEN_BYTES};
pub use keys::{Algorithm, KeyError, SigningKey, VerifyingKey};
pub use outer::{OuterClaims, OuterTemplate, OuterToken, UserClaims};
