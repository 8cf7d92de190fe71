//! `WWW-Authenticate` challenges: the Bearer challenge S2S servers send (realm first, `client_id`,
//! `trusted_issuers`, `error`), and an RFC 7235 parser for reading anyone's challenges — quoted
//! strings with commas, several schemes in one header, token68, names in any case.

use std::fmt::Write as _;

/// Largest header value parsed.
pub const MAX_CHALLENGE_BYTES: usize = 8 * 1024;

/// A challenge: a scheme and its parameters (or a token68).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme, as sent (`Bearer`, `Basic`, …).
    pub scheme: String,
    /// `name=value` parameters, unquoted, names as sent.
    pub params: Vec<(String, String)>,
    /// A token68 instead of parameters.
    pub token68: Option<String>,
}

/// Why a challenge header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// Over the size limit.
    #[error("challenge is {0} bytes, over the limit")]
    TooLarge(usize),
    /// Something other than a challenge at a position.
    #[error("unexpected `{found}` at byte {at} of the challenge")]
    Unexpected {
        /// Byte offset.
        at: usize,
        /// What was there.
        found: char,
    },
    /// A quoted string never closed.
    #[error("unterminated quoted string in the challenge")]
    Unterminated,
    /// No challenge at all.
    #[error("empty challenge")]
    Empty,
}

impl Challenge {
    /// A parameter by name, case-insensitively.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True for the scheme `name`, case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name)
    }
}

/// What an S2S resource server says in its Bearer challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// Our realm (sent first: clients slice it out by position).
    pub realm: Option<String>,
    /// Our own application id.
    pub client_id: String,
    /// `<id>@<realm>` of the issuers we trust.
    pub trusted_issuers: Vec<String>,
    /// Where user consent happens, if anywhere.
    pub authorization_uri: Option<String>,
    /// `invalid_token` when a presented token was rejected.
    pub error: Option<String>,
}

impl BearerChallenge {
    /// Renders the header value: `Bearer realm="…",client_id="…",trusted_issuers="…"[,…]`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("Bearer ");
        let mut first = true;
        let mut param = |name: &str, value: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{name}=\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
        };
        if let Some(realm) = &self.realm {
            param("realm", realm);
        }
        param("client_id", &self.client_id);
        param("trusted_issuers", &self.trusted_issuers.join(","));
        if let Some(uri) = &self.authorization_uri {
            param("authorization_uri", uri);
        }
        if let Some(error) = &self.error {
            param("error", error);
        }
        out
    }

    /// Reads a Bearer challenge out of a parsed header.
    pub fn from_challenges(challenges: &[Challenge]) -> Option<Self> {
        let c = challenges.iter().find(|c| c.is("Bearer"))?;
        Some(Self {
            realm: c.param("realm").map(str::to_owned),
            client_id: c.param("client_id").unwrap_or_default().to_owned(),
            trusted_issuers: c
                .param("trusted_issuers")
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            authorization_uri: c.param("authorization_uri").map(str::to_owned),
            error: c.param("error").map(str::to_owned),
        })
    }
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 7235 §4.1).
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    if header.len() > MAX_CHALLENGE_BYTES {
        return Err(ChallengeError::TooLarge(header.len()));
    }
    let mut p = Parser { s: header.as_bytes(), i: 0 };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip_ws_and_commas();
        if p.at_end() {
            break;
        }
        let scheme = p.token()?;
        let mut challenge = Challenge { scheme, params: Vec::new(), token68: None };
        let had_space = p.skip_ws();
        if had_space && !p.at_end() && p.peek() != Some(b',') {
            // token68 or first auth-param
            let save = p.i;
            let word = p.token68_chars();
            p.skip_ws();
            if p.peek() == Some(b'=') && !word.ends_with('=') && !word.is_empty() && is_token(&word) {
                p.i = save;
                p.params_into(&mut challenge)?;
            } else if !word.is_empty() {
                challenge.token68 = Some(word);
            } else {
                return Err(p.unexpected());
            }
        }
        out.push(challenge);
    }
    if out.is_empty() { Err(ChallengeError::Empty) } else { Ok(out) }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn unexpected(&self) -> ChallengeError {
        ChallengeError::Unexpected { at: self.i, found: self.peek().map_or('\0', char::from) }
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Result<String, ChallengeError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            return Err(self.unexpected());
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn token68_chars(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)) {
            self.i += 1;
        }
        let mut end = self.i;
        while self.s.get(end) == Some(&b'=') {
            end += 1;
        }
        if end > self.i && self.s.get(end).is_none_or(|c| matches!(c, b' ' | b'\t' | b',')) {
            self.i = end;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn quoted(&mut self) -> Result<String, ChallengeError> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ChallengeError::Unterminated),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(ChallengeError::Unterminated)?;
                    out.push(c);
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// Reads `name=value` pairs until the next challenge starts or the input ends.
    fn params_into(&mut self, challenge: &mut Challenge) -> Result<(), ChallengeError> {
        loop {
            self.skip_ws();
            let name = self.token()?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return Err(self.unexpected());
            }
            self.i += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') { self.quoted()? } else { self.token()? };
            challenge.params.push((name, value));
            self.skip_ws();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {
                    // Another parameter, or the next challenge (`token` not followed by `=`).
                    let save = self.i;
                    self.skip_ws_and_commas();
                    if self.at_end() {
                        return Ok(());
                    }
                    let probe = self.i;
                    let is_param = self.token().is_ok() && {
                        self.skip_ws();
                        self.peek() == Some(b'=')
                    };
                    self.i = if is_param { probe } else { save };
                    if !is_param {
                        return Ok(());
                    }
                }
                Some(_) => return Err(self.unexpected()),
            }
        }
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_spec_challenge() {
        let c = parse(
            r#"Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0001-0000-c000-000000000000@*""#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("CLIENT_ID"), Some("00000002-0000-0ff1-ce00-000000000000"));
    }

    #[test]
    fn hybrid_challenge_with_lists_and_uris() {
        let h = r#"Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@72f988bf-86f1-41af-91ab-2d7cd011db47,00000004-0000-0ff1-ce00-000000000000@contoso.com", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="https://login.windows.net/common/oauth2/authorize", Basic realm="mail.contoso.com""#;
        let c = parse(h).unwrap();
        assert_eq!(c.len(), 2);
        let bearer = BearerChallenge::from_challenges(&c).unwrap();
        assert_eq!(bearer.trusted_issuers.len(), 2);
        assert_eq!(c[0].param("token_types"), Some("app_asserted_user_v1 service_asserted_app_v1"));
        assert!(c[1].is("basic"));
        assert_eq!(c[1].param("realm"), Some("mail.contoso.com"));
    }

    #[test]
    fn sharepoint_challenge_with_star_slash() {
        let h = r#"Bearer realm="3cb5e8a4-0000-4d33-9a4f-8e2c0b8e0b4d",client_id="00000003-0000-0ff1-ce00-000000000000",trusted_issuers="00000001-0000-0000-c000-000000000000@*,https://sts.windows.net/*/,00000003-0000-0ff1-ce00-000000000000@90140122-8516-11e1-8eff-49304924019b",authorization_uri="https://login.windows.net/common/oauth2/authorize""#;
        let bearer = BearerChallenge::from_challenges(&parse(h).unwrap()).unwrap();
        assert_eq!(bearer.realm.as_deref(), Some("3cb5e8a4-0000-4d33-9a4f-8e2c0b8e0b4d"));
        assert_eq!(bearer.trusted_issuers[1], "https://sts.windows.net/*/");
    }

    #[test]
    fn round_trip_and_realm_first() {
        let b = BearerChallenge {
            realm: Some("litwareinc.com".into()),
            client_id: crate::principal::EXCHANGE.into(),
            trusted_issuers: vec!["a@x".into(), "b@*".into()],
            authorization_uri: None,
            error: Some("invalid_token".into()),
        };
        let v = b.to_header_value();
        assert!(v.starts_with(r#"Bearer realm="litwareinc.com","#));
        assert_eq!(BearerChallenge::from_challenges(&parse(&v).unwrap()).unwrap(), b);
    }

    #[test]
    fn token68_and_bare_schemes() {
        let c = parse("Negotiate, NTLM, Basic abc123==").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].token68.as_deref(), Some("abc123=="));
        assert!(parse("").is_err());
        assert!(parse(r#"Bearer realm="open"#).is_err());
        assert!(parse("Bearer =x").is_err());
    }
}
