//! Sign-in by an external OpenID Connect provider (e.g. Amazon Cognito): verifying its JSON Web Tokens.
//!
//! With `PINTA_OIDC_ISSUER` and `PINTA_OIDC_AUDIENCE` set, the gateway accepts a provider's token as
//! `Authorization: Bearer …` or in the `x-amzn-oidc-accesstoken` header that an AWS Application Load
//! Balancer adds after its Cognito sign-in. A token is accepted when its signature verifies against
//! the provider's published key set (JWKS), its `iss` is the issuer, it has not expired, and its
//! `aud` (ID tokens) or `client_id` (Cognito access tokens) is the audience. The role comes from a
//! claim holding group names (`PINTA_OIDC_ROLES_CLAIM`, default `cognito:groups`): a group named
//! `operativo` or `gerencial` grants that role; a token with neither is refused.
//!
//! This module does no I/O: the binary fetches the key set (`{issuer}/.well-known/jwks.json` unless
//! `PINTA_OIDC_JWKS_URL` says otherwise) and hands it over with [`OidcVerifier::set_keys`], at start-up
//! and periodically, so rotated keys are picked up.

use std::sync::RwLock;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::auth::{Principal, Role};

/// The provider's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcConfig {
    /// `iss` of accepted tokens, e.g. `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf`.
    pub issuer: String,
    /// The app client id: `aud` of ID tokens, `client_id` of Cognito access tokens.
    pub audience: String,
    /// Claim with the user's groups (a list of strings, or one string).
    pub roles_claim: String,
    /// Where the key set is published.
    pub jwks_url: String,
}

impl OidcConfig {
    /// Defaults for a Cognito user pool.
    pub fn new(issuer: &str, audience: &str) -> OidcConfig {
        let issuer = issuer.trim_end_matches('/').to_owned();
        OidcConfig {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            audience: audience.to_owned(),
            roles_claim: "cognito:groups".to_owned(),
        }
    }
}

/// Why a token was refused (logged at debug level; the client only sees 401/403).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    #[error("the key set is not valid JWKS JSON")]
    BadKeySet(#[source] serde_json::Error),
    #[error("the key set holds no usable signing key")]
    EmptyKeySet,
    #[error("no key with id {0:?} in the provider's key set")]
    UnknownKey(Option<String>),
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("token rejected")]
    Token(#[source] jsonwebtoken::errors::Error),
    #[error("token is for another client")]
    Audience,
    #[error("token carries neither the gerencial nor the operativo group")]
    NoRole,
}

/// Verifies provider tokens against the current key set.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    keys: RwLock<JwkSet>,
}

const ACCEPTED: [Algorithm; 4] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256];

impl OidcVerifier {
    /// A verifier with no keys yet: every token is refused until [`Self::set_keys`].
    pub fn new(config: OidcConfig) -> OidcVerifier {
        OidcVerifier {
            config,
            keys: RwLock::new(JwkSet { keys: Vec::new() }),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Replaces the key set with the provider's JWKS document; returns how many keys it holds.
    pub fn set_keys(&self, jwks_json: &[u8]) -> Result<usize, OidcError> {
        let set: JwkSet = serde_json::from_slice(jwks_json).map_err(OidcError::BadKeySet)?;
        let usable = set.keys.iter().filter(|k| DecodingKey::from_jwk(k).is_ok()).count();
        if usable == 0 {
            return Err(OidcError::EmptyKeySet);
        }
        match self.keys.write() {
            Ok(mut keys) => *keys = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(usable)
    }

    /// The principal a token stands for.
    pub fn verify(&self, token: &str) -> Result<Principal, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(OidcError::Token)?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let key = {
            let keys = match self.keys.read() {
                Ok(k) => k,
                Err(poisoned) => poisoned.into_inner(),
            };
            let jwk = match &header.kid {
                Some(kid) => keys.find(kid),
                None if keys.keys.len() == 1 => keys.keys.first(),
                None => None,
            }
            .ok_or_else(|| OidcError::UnknownKey(header.kid.clone()))?;
            DecodingKey::from_jwk(jwk).map_err(OidcError::Token)?
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        // `aud` is checked below: Cognito access tokens carry `client_id` instead.
        validation.validate_aud = false;
        validation.leeway = 30;
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(OidcError::Token)?;
        let claims = data.claims;
        let audience_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => *a == self.config.audience,
            Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&self.config.audience)),
            _ => claims.get("client_id").and_then(|c| c.as_str()) == Some(&self.config.audience),
        };
        if !audience_ok {
            return Err(OidcError::Audience);
        }
        let groups: Vec<&str> = match claims.get(&self.config.roles_claim) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            Some(serde_json::Value::String(s)) => s.split([',', ' ']).filter(|g| !g.is_empty()).collect(),
            _ => Vec::new(),
        };
        let role = groups.iter().filter_map(|g| Role::parse(g)).max().ok_or(OidcError::NoRole)?;
        let user = ["email", "cognito:username", "username", "sub"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(|v| v.as_str()))
            .unwrap_or("oidc")
            .to_owned();
        Ok(Principal { user, role })
    }
}
