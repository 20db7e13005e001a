//! The webhook channel: a Slack/Teams-compatible incoming webhook, `POST {"text": ...}`.

use std::time::Duration;

use async_trait::async_trait;

use super::{Alert, AlertChannel, ChannelError};

/// Posts alerts to an incoming webhook.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: String,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is a secret (it authorises posting): never print it.
        f.debug_struct("WebhookChannel").finish_non_exhaustive()
    }
}

impl WebhookChannel {
    pub fn new(url: String) -> Result<WebhookChannel, ChannelError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|source| ChannelError::Http { source })?;
        Ok(WebhookChannel { client, url })
    }

    /// The JSON body posted for an alert.
    pub fn body(alert: &Alert) -> serde_json::Value {
        serde_json::json!({ "text": format!("*{}*\n{}", alert.subject, alert.text) })
    }
}

#[async_trait]
impl AlertChannel for WebhookChannel {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, alert: &Alert) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(&WebhookChannel::body(alert)).unwrap_or_default();
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|source| ChannelError::Http { source: source.without_url() })?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(ChannelError::HttpStatus { status: status.as_u16() }) }
    }
}
