//! `pinta-gateway`: the dashboard gateway as its own process (a container on ECS Fargate in AWS).
//! Serves the dashboards and the data API from the bucket (`PINTA_BUCKET`) and follows
//! `production.published.v1` on the instance's own SQS queue (`PINTA_QUEUE_URL`, subscribed to the
//! pipeline topic with a filter on `type`) to push new days to open pages. Listens on
//! `PINTA_BIND`:`PINTA_PORT` (default `0.0.0.0:8080`); any non-loopback address needs `PINTA_USERS` or
//! an OpenID Connect provider (`PINTA_OIDC_ISSUER`, `PINTA_OIDC_AUDIENCE`). Locally, `pinta up` runs
//! the same gateway in-process instead.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use pinta_dashboard_gateway::{GatewayConfig, GatewayState, live, serve};
use pinta_platform::aws::config::{Env, StageConfig};
use pinta_platform::aws::{S3ObjectStore, SqsReceiver, sdk_config};
use pinta_platform::ports::{EventReceiver, ObjectStore};
use pinta_platform::telemetry::{self, LogFormat};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::from_env(), "info");
    let env = Env::process();
    let bind: IpAddr = match env.get("PINTA_BIND") {
        Some(b) => b.parse().with_context(|| format!("PINTA_BIND={b:?} is not an IP address"))?,
        None => IpAddr::from([0, 0, 0, 0]),
    };
    let port: u16 = match env.get("PINTA_PORT") {
        Some(p) => p.parse().with_context(|| format!("PINTA_PORT={p:?} is not a port number"))?,
        None => 8080,
    };
    let gateway = GatewayConfig::from_env(bind)?;
    let stage = StageConfig::from_env(&env, true, false)?;
    let queue_url = stage.queue_url.clone().context("PINTA_QUEUE_URL: the gateway's own SQS queue URL")?;
    let sdk = sdk_config(&stage.aws).await;
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&sdk, &stage.bucket, stage.aws.path_style()));
    let receiver: Arc<dyn EventReceiver> = Arc::new(SqsReceiver::new(&sdk, queue_url));

    let shutdown = CancellationToken::new();
    let state = GatewayState::new(store, gateway);
    state
        .load_oidc_keys(shutdown.clone())
        .await
        .context("PINTA_OIDC_JWKS_URL (or PINTA_OIDC_ISSUER): loading the provider's signing keys")?;
    let follower = {
        let (state, token) = (state.clone(), shutdown.clone());
        tokio::spawn(async move { live::follow_events(receiver, state, async move { token.cancelled().await }).await })
    };
    let addr = SocketAddr::new(bind, port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "dashboard gateway listening");
    let token = shutdown.clone();
    tokio::spawn(async move {
        pinta_platform::worker::wait_for_signal().await;
        token.cancel();
    });
    let token = shutdown.clone();
    serve(listener, state, async move { token.cancelled().await }).await.context("serving")?;
    shutdown.cancel();
    let _ = follower.await;
    Ok(())
}
