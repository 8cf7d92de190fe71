//! Calling partners: `Issuer` mints our actor tokens (cached per audience until shortly before
//! they expire) and act-as tokens (the outer token built from a per-actor template), and renders
//! the `Authorization` header for a target URL. The signing key can be swapped at any time
//! (rollover); cached tokens signed by the old key are then re-minted.

#[cfg(feature = "fetch")]
pub mod auth_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use quick_cache::sync::Cache;

use crate::clock::{SharedClock, UnixTime};
use crate::principal::Principal;
use crate::token::{ActorClaims, OuterTemplate, SigningKey, TokenError, UserClaims, actor};

/// Default actor token lifetime (Exchange's built-in issuer uses 24 h).
pub const DEFAULT_ACTOR_LIFETIME: i64 = 24 * 3600;
/// `nbf` is back-dated by this much to absorb peers' clock skew.
pub const NBF_BACKDATE: i64 = 300;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// No signing key is configured.
    #[error("no token-issuer certificate is configured")]
    NoSigningKey,
    /// The realm or service name is missing.
    #[error("the OAuth configuration has no realm or service name")]
    NotConfigured,
    /// The target URL has no host.
    #[error("target URL `{0}` has no host")]
    NoHost(String),
    /// Signing or encoding failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Who we are when we call out, and the key we sign with.
#[derive(Debug)]
pub struct IssuerIdentity {
    /// Our application id.
    pub app_id: String,
    /// Our realm.
    pub realm: String,
    /// Our current signing key.
    pub key: Option<Arc<SigningKey>>,
}

#[derive(Debug)]
struct Minted {
    actor: Arc<str>,
    template: OuterTemplate,
    exp: UnixTime,
    refresh_at: UnixTime,
    generation: u64,
}

/// Mints our tokens.
pub struct Issuer {
    identity: ArcSwap<IssuerIdentity>,
    generation: AtomicU64,
    clock: SharedClock,
    lifetime: i64,
    cache: Cache<String, Arc<Minted>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("identity", &self.identity.load()).finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer for `identity`, reading time from `clock`.
    pub fn new(identity: IssuerIdentity, clock: SharedClock) -> Self {
        Self {
            identity: ArcSwap::from_pointee(identity),
            generation: AtomicU64::new(0),
            clock,
            lifetime: DEFAULT_ACTOR_LIFETIME,
            cache: Cache::new(4096),
        }
    }

    /// Sets the actor token lifetime in seconds.
    pub fn with_lifetime(mut self, seconds: i64) -> Self {
        self.lifetime = seconds.max(60);
        self
    }

    /// Replaces identity and key (configuration change or rollover); cached tokens are re-minted.
    pub fn set_identity(&self, identity: IssuerIdentity) {
        let old = self.identity.load();
        let same = old.app_id == identity.app_id
            && old.realm == identity.realm
            && old.key.as_ref().map(|k| k.x5t()) == identity.key.as_ref().map(|k| k.x5t());
        if !same {
            self.identity.store(Arc::new(identity));
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The current identity.
    pub fn identity(&self) -> arc_swap::Guard<Arc<IssuerIdentity>> {
        self.identity.load()
    }

    /// The audience for calling application `target_app_id` at `authority` (`host[:port]`), in our realm.
    pub fn audience(&self, target_app_id: &str, authority: &str) -> Principal {
        Principal::audience(target_app_id, authority, &self.identity.load().realm)
    }

    /// An actor (app-only) token for `audience`, reused until shortly before it expires.
    pub fn actor_token(&self, audience: &Principal) -> Result<Arc<str>, IssueError> {
        Ok(Arc::clone(&self.minted(audience)?.actor))
    }

    /// An act-as token for `user` around an actor token someone else issued (an authorization
    /// server): the outer token is ours (`iss` = our app id in the actor's realm).
    pub fn act_as_with_actor(&self, actor: &str, user: &UserClaims) -> Result<String, IssueError> {
        let decoded = crate::token::ActorToken::decode(actor)?;
        let c = &decoded.claims;
        let aud = c.aud.as_deref().unwrap_or_default();
        let realm = aud.rsplit_once('@').map(|(_, r)| r).unwrap_or_default();
        let iss = format!("{}@{realm}", self.identity.load().app_id);
        let template = OuterTemplate::new(aud, &iss, c.nbf.unwrap_or_default(), c.exp.unwrap_or_default(), actor)?;
        Ok(template.mint(user)?)
    }

    /// An act-as token for `user` at `audience`: an unsigned outer token around our actor token.
    pub fn act_as_token(&self, audience: &Principal, user: &UserClaims) -> Result<String, IssueError> {
        Ok(self.minted(audience)?.template.mint(user)?)
    }

    /// The `Authorization` header value for calling `url` as application `target_app_id`, for `user` if given.
    pub fn authorization(
        &self,
        target_app_id: &str,
        url: &url::Url,
        user: Option<&UserClaims>,
    ) -> Result<String, IssueError> {
        let host = url.host_str().ok_or_else(|| IssueError::NoHost(url.to_string()))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let audience = self.audience(target_app_id, &authority);
        let token = match user {
            Some(user) => self.act_as_token(&audience, user)?,
            None => self.actor_token(&audience)?.to_string(),
        };
        Ok(format!("Bearer {token}"))
    }

    fn minted(&self, audience: &Principal) -> Result<Arc<Minted>, IssueError> {
        let key = audience.to_string();
        let now = self.clock.now();
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some(hit) = self.cache.get(&key)
            && hit.generation == generation
            && now < hit.refresh_at
        {
            return Ok(hit);
        }
        let identity = self.identity.load();
        let signing = identity.key.as_ref().ok_or(IssueError::NoSigningKey)?;
        if identity.app_id.is_empty() || identity.realm.is_empty() {
            return Err(IssueError::NotConfigured);
        }
        let me = format!("{}@{}", identity.app_id, identity.realm);
        let nbf = now - NBF_BACKDATE;
        let exp = (now + self.lifetime).min(signing.not_after());
        let claims = ActorClaims {
            aud: Some(key.clone()),
            iss: Some(me.clone()),
            nameid: Some(me.clone()),
            nbf: Some(nbf),
            exp: Some(exp),
            iat: None,
            trustedfordelegation: true,
            identityprovider: None,
        };
        let actor: Arc<str> = actor::sign(&claims, signing)?.into();
        let template = OuterTemplate::new(&key, &me, nbf, exp, &actor)?;
        let minted = Arc::new(Minted { actor, template, exp, refresh_at: exp - (exp - now) / 10, generation });
        self.cache.insert(key, Arc::clone(&minted));
        Ok(minted)
    }

    /// When the cached token for `audience` expires, if one is cached.
    pub fn cached_expiry(&self, audience: &Principal) -> Option<UnixTime> {
        self.cache.get(&audience.to_string()).map(|m| m.exp)
    }
}
