//! The SMTP channel: `lettre`'s async transport over tokio, plain, STARTTLS or TLS (rustls), with
//! optional credentials.

use async_trait::async_trait;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Alert, AlertChannel, ChannelError, build_message};
use crate::config::{SmtpConfig, TlsMode};

/// Sends alerts to an SMTP relay.
#[derive(Clone)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    endpoint: String,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl SmtpChannel {
    pub fn new(config: &SmtpConfig) -> Result<SmtpChannel, ChannelError> {
        let builder = match config.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            TlsMode::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|source| ChannelError::Smtp { source })?,
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|source| ChannelError::Smtp { source })?,
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpChannel { transport: builder.build(), endpoint: format!("{}:{}", config.host, config.port) })
    }
}

#[async_trait]
impl AlertChannel for SmtpChannel {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, alert: &Alert) -> Result<(), ChannelError> {
        let message = build_message(alert)?;
        self.transport.send(message).await.map(|_| ()).map_err(|source| ChannelError::Smtp { source })
    }
}
