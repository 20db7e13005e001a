//! Fetching a JSON Web Key Set (an OpenID Connect provider's signing keys) over HTTP(S), once at
//! start-up and then periodically, handing each copy to whoever verifies tokens (the gateway).
//!
//! A provider that cannot be reached after a few attempts at start-up is an error naming the URL; a
//! failed refresh later keeps the previous keys and is logged.

use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// Why the key set could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("GET {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the key set at {url} was refused")]
    Refused {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// How often and how hard to fetch.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// Attempts at start-up before giving up (with 2, 4, 8 … s between them).
    pub attempts: u32,
    /// Time between refreshes.
    pub refresh: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions { attempts: 3, refresh: Duration::from_secs(3600), timeout: Duration::from_secs(10) }
    }
}

/// What receives each fetched key set; returns the number of usable keys, or why it refused them.
pub type ApplyKeys = dyn Fn(&[u8]) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> + Send + Sync;

async fn load(client: &reqwest::Client, url: &str, apply: &ApplyKeys) -> Result<usize, JwksError> {
    let res = client.get(url).send().await.map_err(|source| JwksError::Http { url: url.to_owned(), source })?;
    let status = res.status();
    if !status.is_success() {
        return Err(JwksError::Status { url: url.to_owned(), status: status.as_u16() });
    }
    let body: Bytes = res.bytes().await.map_err(|source| JwksError::Http { url: url.to_owned(), source })?;
    apply(&body).map_err(|source| JwksError::Refused { url: url.to_owned(), source })
}

/// Loads the key set now (retrying briefly), then refreshes it in the background until `shutdown`.
pub async fn load_and_refresh(
    url: String,
    apply: std::sync::Arc<ApplyKeys>,
    options: JwksOptions,
    shutdown: CancellationToken,
) -> Result<usize, JwksError> {
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .build()
        .map_err(|source| JwksError::Http { url: url.clone(), source })?;
    let mut attempt = 0;
    let keys = loop {
        attempt += 1;
        match load(&client, &url, apply.as_ref()).await {
            Ok(n) => break n,
            Err(e) if attempt < options.attempts => {
                tracing::warn!(error = %crate::runner::error_chain(&e), attempt, "key set not loaded yet; retrying");
                tokio::time::sleep(Duration::from_secs(2u64.saturating_pow(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    };
    tracing::info!(keys, url = %url, "key set loaded");
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(options.refresh) => {}
            }
            match load(&client, &url, apply.as_ref()).await {
                Ok(keys) => tracing::debug!(keys, "key set refreshed"),
                Err(e) => tracing::error!(error = %crate::runner::error_chain(&e), "refreshing the key set failed; keeping the previous keys"),
            }
        }
    });
    Ok(keys)
}
