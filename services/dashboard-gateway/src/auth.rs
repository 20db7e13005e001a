//! Users, roles and signed session tokens.
//!
//! Users come from configuration (`PINTA_USERS="ana:gerencial:secreto,luis:operativo:otro"`). Logging
//! in (`POST /api/login`) returns an HMAC-SHA256 signed token, also set as an `HttpOnly` cookie; every
//! request presents it as `Authorization: Bearer …` or the cookie. `operativo` includes what
//! `gerencial` may see. With no users configured (allowed only on a loopback address) every request
//! is treated as a local user with both roles. Tokens of an OpenID Connect provider (Cognito) are
//! accepted as well when one is configured ([`crate::oidc`]).

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde::Serialize;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Name of the session cookie.
pub const COOKIE: &str = "pinta_session";

/// A role. `Operativo` grants everything `Gerencial` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Gerencial,
    Operativo,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "gerencial" => Some(Role::Gerencial),
            "operativo" => Some(Role::Operativo),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gerencial => "gerencial",
            Role::Operativo => "operativo",
        }
    }
}

/// A configured user.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    pub user: String,
    pub role: Role,
}

impl Principal {
    pub fn can(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

/// Bad `PINTA_USERS`.
#[derive(Debug, thiserror::Error)]
#[error("PINTA_USERS: {0} (expected user:role:password[,…] with role gerencial or operativo)")]
pub struct UsersError(String);

/// Parses `user:role:password[,…]` (the password may contain `:`).
pub fn parse_users(text: &str) -> Result<Vec<User>, UsersError> {
    let mut users: Vec<User> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, ':');
        let (Some(name), Some(role), Some(password)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(UsersError(format!(
                "entry for {:?} is incomplete",
                entry.split(':').next().unwrap_or("")
            )));
        };
        let role = Role::parse(role).ok_or_else(|| UsersError(format!("unknown role {role:?} for {name}")))?;
        if name.is_empty() || password.len() < 8 {
            return Err(UsersError(format!(
                "user {name:?} needs a name and a password of at least 8 characters"
            )));
        }
        if users.iter().any(|u| u.name == name) {
            return Err(UsersError(format!("user {name:?} appears twice")));
        }
        users.push(User {
            name: name.to_owned(),
            role,
            password: password.to_owned(),
        });
    }
    Ok(users)
}

/// Issues and checks tokens.
#[derive(Clone)]
pub struct Authenticator {
    users: Vec<User>,
    secret: Vec<u8>,
    ttl_secs: u64,
    oidc: Option<std::sync::Arc<crate::oidc::OidcVerifier>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    /// `secret` signs tokens (at least 32 bytes; tokens do not survive a restart if it is random).
    pub fn new(users: Vec<User>, secret: Vec<u8>, ttl_secs: u64) -> Authenticator {
        Authenticator {
            users,
            secret,
            ttl_secs,
            oidc: None,
        }
    }

    /// Also accept tokens of an OpenID Connect provider.
    pub fn with_oidc(mut self, verifier: std::sync::Arc<crate::oidc::OidcVerifier>) -> Authenticator {
        self.oidc = Some(verifier);
        self
    }

    /// The provider's verifier, when one is configured.
    pub fn oidc(&self) -> Option<&std::sync::Arc<crate::oidc::OidcVerifier>> {
        self.oidc.as_ref()
    }

    /// No users: local mode without authentication.
    pub fn is_open(&self) -> bool {
        self.users.is_empty() && self.oidc.is_none()
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        m.update(data);
        m
    }

    /// Checks a password and issues a token.
    pub fn login(&self, user: &str, password: &str) -> Option<(String, Principal)> {
        let u = self.users.iter().find(|u| u.name == user)?;
        // Compare MACs of both passwords: constant time whatever the lengths.
        let expected = self.mac(u.password.as_bytes()).finalize().into_bytes();
        if self.mac(password.as_bytes()).verify_slice(&expected).is_err() {
            return None;
        }
        let principal = Principal {
            user: u.name.clone(),
            role: u.role,
        };
        Some((self.issue(&principal, now_secs() + self.ttl_secs), principal))
    }

    /// `hex(user|role|expiry).hex(hmac)`.
    pub fn issue(&self, p: &Principal, expires: u64) -> String {
        let payload = format!("{}|{}|{}", p.user, p.role.as_str(), expires);
        let sig = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", hex::encode(payload), hex::encode(sig))
    }

    /// The principal of a valid, unexpired token of a user that still exists.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let (payload, sig) = token.split_once('.')?;
        let payload = hex::decode(payload).ok()?;
        let sig = hex::decode(sig).ok()?;
        self.mac(&payload).verify_slice(&sig).ok()?;
        let text = String::from_utf8(payload).ok()?;
        let mut parts = text.rsplitn(3, '|');
        let expires: u64 = parts.next()?.parse().ok()?;
        let role = Role::parse(parts.next()?)?;
        let user = parts.next()?;
        if expires < now_secs() {
            return None;
        }
        let u = self.users.iter().find(|u| u.name == user && u.role == role)?;
        Some(Principal {
            user: u.name.clone(),
            role,
        })
    }

    /// From the request headers: bearer token first, then the cookie. Open mode: a local operator.
    pub fn principal(&self, headers: &axum::http::HeaderMap) -> Option<Principal> {
        if self.is_open() {
            return Some(Principal {
                user: "local".into(),
                role: Role::Operativo,
            });
        }
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(p) = bearer.and_then(|t| self.verify(t.trim())) {
            return Some(p);
        }
        if let Some(oidc) = &self.oidc {
            let alb = headers.get("x-amzn-oidc-accesstoken").and_then(|v| v.to_str().ok());
            for token in [bearer, alb].into_iter().flatten() {
                match oidc.verify(token.trim()) {
                    Ok(p) => return Some(p),
                    Err(e) => tracing::debug!(error = %e, "provider token refused"),
                }
            }
        }
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
            .find_map(|t| self.verify(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        let users = parse_users("ana:gerencial:secreto-ana,luis:operativo:secreto:luis").unwrap();
        Authenticator::new(users, b"0123456789abcdef0123456789abcdef".to_vec(), 3600)
    }

    #[test]
    fn users_parse_and_reject_bad_entries() {
        assert!(parse_users("ana:jefa:secreto-ana").is_err());
        assert!(parse_users("ana:gerencial").is_err());
        assert!(parse_users("ana:gerencial:corto").is_err());
        assert!(parse_users("ana:gerencial:secreto-ana,ana:operativo:secreto-ana").is_err());
        assert!(parse_users("").unwrap().is_empty());
    }

    #[test]
    fn login_issues_tokens_that_verify_and_carry_the_role() {
        let a = auth();
        assert!(a.login("ana", "mala-clave").is_none());
        assert!(a.login("nadie", "secreto-ana").is_none());
        let (t, p) = a.login("luis", "secreto:luis").unwrap();
        assert_eq!(p.role, Role::Operativo);
        assert_eq!(a.verify(&t), Some(p.clone()));
        assert!(p.can(Role::Gerencial));
        let (t, p) = a.login("ana", "secreto-ana").unwrap();
        assert!(!p.can(Role::Operativo));
        // Tampering with the payload (promoting the role) breaks the signature.
        let forged = format!(
            "{}.{}",
            hex::encode("ana|operativo|99999999999"),
            t.split_once('.').unwrap().1
        );
        assert!(a.verify(&forged).is_none());
        let expired = a.issue(&p, 1);
        assert!(a.verify(&expired).is_none());
        assert!(a.verify("garbage").is_none());
    }
}
