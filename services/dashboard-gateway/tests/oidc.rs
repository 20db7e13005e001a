//! Sign-in by an OpenID Connect provider: tokens made by an independent implementation (PyJWT with
//! a fresh RSA key) are accepted or refused by the gateway's router exactly as a Cognito user pool's
//! would be — signature, issuer, audience / client id, expiry, algorithm, and the role from the groups.

mod common;

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use http_body_util::BodyExt;
use pinta_dashboard_gateway::oidc::OidcConfig;
use pinta_dashboard_gateway::{GatewayConfig, GatewayState, app};
use tower::ServiceExt;

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pinta";
const CLIENT: &str = "pinta-tableros";

fn provider() -> serde_json::Value {
    let python = std::env::var("PINTA_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| panic!("PINTA_PYTHON is not set: run through scripts/test (it installs PyJWT)"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/oidc_tokens.py");
    let out = std::process::Command::new(python).args([script, ISSUER, CLIENT]).output().unwrap();
    assert!(out.status.success(), "token maker failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn oidc_state(dir: &std::path::Path) -> GatewayState {
    let config = GatewayConfig { oidc: Some(OidcConfig::new(ISSUER, CLIENT)), ..GatewayConfig::default() };
    GatewayState::new(store(dir), config)
}

async fn me(state: &GatewayState, header_name: &str, value: String) -> (StatusCode, serde_json::Value) {
    let req = Request::get("/api/me").header(header_name, value).body(Body::empty()).unwrap();
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

async fn status_of(state: &GatewayState, uri: &str, token: &str) -> StatusCode {
    let req =
        Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap();
    app(state.clone()).oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn provider_tokens_are_verified_and_carry_the_role_of_their_group() {
    let p = provider();
    let t = |name: &str| p["tokens"][name].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let state = oidc_state(dir.path());
    let verifier = state.oidc().expect("configured").clone();

    // Before the key set is loaded, nothing is accepted.
    assert_eq!(me(&state, "authorization", format!("Bearer {}", t("operativo_id"))).await.0, StatusCode::UNAUTHORIZED);
    let n = verifier.set_keys(p["jwks"].to_string().as_bytes()).unwrap();
    assert_eq!(n, 1);

    let (s, body) = me(&state, "authorization", format!("Bearer {}", t("operativo_id"))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["user"], "ana@planta.mx");
    assert_eq!(body["role"], "operativo");
    let (s, body) = me(&state, "authorization", format!("Bearer {}", t("gerencial_id"))).await;
    assert_eq!((s, body["role"].as_str()), (StatusCode::OK, Some("gerencial")));
    // A Cognito access token (client_id, no aud), as an ALB forwards it after its own sign-in.
    let (s, body) = me(&state, "x-amzn-oidc-accesstoken", t("operativo_access")).await;
    assert_eq!((s, body["user"].as_str()), (StatusCode::OK, Some("marta")));

    for bad in ["expired", "other_issuer", "other_client", "forged", "unknown_kid", "no_group", "hs256"] {
        let (s, _) = me(&state, "authorization", format!("Bearer {}", t(bad))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "token {bad} must be refused");
    }

    // Roles gate the views as for configured users: gerencial cannot read history or export.
    assert_eq!(status_of(&state, "/api/days", &t("gerencial_id")).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&state, "/api/production/2025-01-02/export.csv", &t("gerencial_id")).await, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&state, "/api/days", &t("operativo_id")).await, StatusCode::OK);
}

#[test]
fn a_key_set_without_keys_or_json_is_refused_and_the_old_keys_stay() {
    let p = provider();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let state = oidc_state(dir.path());
    let v = state.oidc().unwrap();
    v.set_keys(p["jwks"].to_string().as_bytes()).unwrap();
    assert!(v.set_keys(b"not json").is_err());
    assert!(v.set_keys(br#"{"keys": []}"#).is_err());
    let principal = v.verify(p["tokens"]["operativo_id"].as_str().unwrap()).unwrap();
    assert_eq!(principal.user, "ana@planta.mx");
}

#[test]
fn oidc_configuration_is_checked_and_allows_serving_beyond_loopback() {
    let any: IpAddr = "0.0.0.0".parse().unwrap();
    let config = GatewayConfig { oidc: Some(OidcConfig::new(ISSUER, CLIENT)), ..GatewayConfig::default() };
    assert!(config.check_bind(any).is_ok());
    assert!(GatewayConfig::default().check_bind(any).is_err());
    assert_eq!(
        OidcConfig::new(&format!("{ISSUER}/"), CLIENT).jwks_url,
        format!("{ISSUER}/.well-known/jwks.json")
    );
}

/// A one-route HTTP/1.1 server answering every request with `body`; returns its base URL and a hit counter.
async fn serve_jwks(body: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn the_key_set_is_fetched_over_http_at_start_and_tokens_then_verify() {
    let p = provider();
    let (base, hits) = serve_jwks(p["jwks"].to_string()).await;
    let mut oidc = OidcConfig::new(ISSUER, CLIENT);
    oidc.jwks_url = format!("{base}/.well-known/jwks.json");
    let dir = tempfile::tempdir().unwrap();
    let state = GatewayState::new(store(dir.path()), GatewayConfig { oidc: Some(oidc), ..GatewayConfig::default() });
    let token = p["tokens"]["operativo_id"].as_str().unwrap().to_owned();
    assert_eq!(me(&state, "authorization", format!("Bearer {token}")).await.0, StatusCode::UNAUTHORIZED);
    let shutdown = tokio_util::sync::CancellationToken::new();
    assert_eq!(state.load_oidc_keys(shutdown.clone()).await.unwrap(), Some(1));
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (s, body) = me(&state, "authorization", format!("Bearer {token}")).await;
    assert_eq!((s, body["role"].as_str()), (StatusCode::OK, Some("operativo")));
    shutdown.cancel();
    // Without a provider there is nothing to load.
    let plain = GatewayState::new(store(dir.path()), GatewayConfig::default());
    assert_eq!(plain.load_oidc_keys(tokio_util::sync::CancellationToken::new()).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_provider_is_an_error_naming_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut oidc = OidcConfig::new(ISSUER, CLIENT);
    oidc.jwks_url = format!("http://127.0.0.1:{port}/jwks.json");
    let dir = tempfile::tempdir().unwrap();
    let state = GatewayState::new(store(dir.path()), GatewayConfig { oidc: Some(oidc), ..GatewayConfig::default() });
    let err = state.load_oidc_keys(tokio_util::sync::CancellationToken::new()).await.unwrap_err();
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}/jwks.json")), "{err}");
}
