//! [`NotifierConfig`]: the notifier's whole configuration as one typed struct, read from the
//! environment by [`NotifierConfig::from_env`] and validated at start with errors that name the
//! variable at fault.

use std::path::PathBuf;
use std::time::Duration;

use pinta_platform::retry::RetryPolicy;

use crate::policy::{PolicyConfig, PolicyError};

/// Recipients when `PINTA_ALERT_RECIPIENTS` is unset.
pub const DEFAULT_RECIPIENT: &str = "ops@localhost";
/// Sender when `PINTA_ALERT_FROM` is unset.
pub const DEFAULT_FROM: &str = "Pinta <pinta@localhost>";
/// Runbook base when `PINTA_RUNBOOK_BASE_URL` is unset: the path in the repository.
pub const DEFAULT_RUNBOOK_BASE_URL: &str = "docs/runbooks";

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (a local relay or a test server).
    None,
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
        }
    }
}

/// An SMTP relay.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// User and password, when the relay wants them.
    pub credentials: Option<(String, String)>,
    /// Per-attempt connection/command timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Everything the notifier needs.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// `To:` of every alert.
    pub recipients: Vec<String>,
    /// Added (as `Cc:`) when an alert is escalated.
    pub escalation: Vec<String>,
    pub from: String,
    /// `None`: alerts go to the outbox folder (or the alerts topic).
    pub smtp: Option<SmtpConfig>,
    /// `PINTA_ALERTS_TOPIC_ARN`: the alerts topic (SNS) ops subscribe to by e-mail. The process wires
    /// the adapter (`Notifier::with_topic`); exclusive with SMTP.
    pub alerts_topic_arn: Option<String>,
    /// Slack/Teams-compatible incoming webhook.
    pub webhook_url: Option<String>,
    pub policy: PolicyConfig,
    /// Prefix of runbook links (`<base>/<name>.md`).
    pub runbook_base_url: String,
    /// Where `.eml` files go when there is no SMTP relay or it fails.
    pub outbox_dir: PathBuf,
    /// Retries of a channel that is down.
    pub channel_retry: RetryPolicy,
}

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("PINTA_ALERT_POLICY_FILE: {source}")]
    Policy {
        #[source]
        source: PolicyError,
    },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { var, reason: reason.into() }
}

impl NotifierConfig {
    /// Defaults: recipients `ops@localhost`, no escalation, no SMTP (outbox only), no webhook, the
    /// built-in policy, runbooks under `docs/runbooks`.
    pub fn new(outbox_dir: PathBuf) -> NotifierConfig {
        NotifierConfig {
            recipients: vec![DEFAULT_RECIPIENT.to_owned()],
            escalation: Vec::new(),
            from: DEFAULT_FROM.to_owned(),
            smtp: None,
            alerts_topic_arn: None,
            webhook_url: None,
            policy: PolicyConfig::default(),
            runbook_base_url: DEFAULT_RUNBOOK_BASE_URL.to_owned(),
            outbox_dir,
            channel_retry: RetryPolicy { max_attempts: 3, base: Duration::from_millis(500), max: Duration::from_secs(10) },
        }
    }

    /// Reads the `PINTA_ALERT_*`, `PINTA_ALERTS_TOPIC_ARN`, `PINTA_SMTP_*` and `PINTA_RUNBOOK_BASE_URL`
    /// variables.
    pub fn from_env(outbox_dir: PathBuf) -> Result<NotifierConfig, ConfigError> {
        NotifierConfig::from_lookup(outbox_dir, |name| std::env::var(name).ok())
    }

    /// [`NotifierConfig::from_env`] over any variable source (tests).
    pub fn from_lookup(
        outbox_dir: PathBuf,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<NotifierConfig, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut config = NotifierConfig::new(outbox_dir);
        if let Some(list) = get("PINTA_ALERT_RECIPIENTS") {
            config.recipients = split_list(&list);
        }
        if let Some(list) = get("PINTA_ALERT_ESCALATION") {
            config.escalation = split_list(&list);
        }
        if let Some(from) = get("PINTA_ALERT_FROM") {
            config.from = from;
        }
        if let Some(url) = get("PINTA_ALERT_WEBHOOK_URL") {
            config.webhook_url = Some(url);
        }
        if let Some(arn) = get("PINTA_ALERTS_TOPIC_ARN") {
            config.alerts_topic_arn = Some(arn);
        }
        if let Some(base) = get("PINTA_RUNBOOK_BASE_URL") {
            config.runbook_base_url = base;
        }
        if let Some(path) = get("PINTA_ALERT_POLICY_FILE") {
            config.policy = PolicyConfig::load(&PathBuf::from(path)).map_err(|source| ConfigError::Policy { source })?;
        }

        let host = get("PINTA_SMTP_HOST");
        let smtp_vars = ["PINTA_SMTP_PORT", "PINTA_SMTP_TLS", "PINTA_SMTP_USER", "PINTA_SMTP_PASSWORD"];
        match host {
            None => {
                if let Some(var) = smtp_vars.iter().find(|v| get(v).is_some()) {
                    return Err(invalid(var, "is set but PINTA_SMTP_HOST is not"));
                }
            }
            Some(host) => {
                let tls = match get("PINTA_SMTP_TLS").as_deref() {
                    None | Some("starttls") => TlsMode::StartTls,
                    Some("none") => TlsMode::None,
                    Some("tls") => TlsMode::Tls,
                    Some(other) => {
                        return Err(invalid("PINTA_SMTP_TLS", format!("{other:?} is not one of none, starttls, tls")));
                    }
                };
                let port = match get("PINTA_SMTP_PORT") {
                    None => tls.default_port(),
                    Some(p) => p
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| invalid("PINTA_SMTP_PORT", format!("{p:?} is not a port number (1-65535)")))?,
                };
                let credentials = match (get("PINTA_SMTP_USER"), lookup("PINTA_SMTP_PASSWORD")) {
                    (None, None) => None,
                    (Some(user), Some(password)) => Some((user, password)),
                    (Some(_), None) => return Err(invalid("PINTA_SMTP_PASSWORD", "is required when PINTA_SMTP_USER is set")),
                    (None, Some(_)) => return Err(invalid("PINTA_SMTP_USER", "is required when PINTA_SMTP_PASSWORD is set")),
                };
                config.smtp = Some(SmtpConfig { host, port, tls, credentials, timeout: Duration::from_secs(15) });
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks addresses, URLs and the policy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.recipients.is_empty() {
            return Err(invalid("PINTA_ALERT_RECIPIENTS", "lists no address"));
        }
        for r in &self.recipients {
            check_address("PINTA_ALERT_RECIPIENTS", r)?;
        }
        for r in &self.escalation {
            check_address("PINTA_ALERT_ESCALATION", r)?;
        }
        check_address("PINTA_ALERT_FROM", &self.from)?;
        if let Some(url) = &self.webhook_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid("PINTA_ALERT_WEBHOOK_URL", format!("{url:?} is not an http(s) URL")));
        }
        if let Some(arn) = &self.alerts_topic_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if !(parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[5].is_empty()) {
                return Err(invalid(
                    "PINTA_ALERTS_TOPIC_ARN",
                    format!("{arn:?} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"),
                ));
            }
            if self.smtp.is_some() {
                return Err(invalid(
                    "PINTA_ALERTS_TOPIC_ARN",
                    "is set together with PINTA_SMTP_HOST: choose one e-mail route (the topic's e-mail subscriptions on AWS, SMTP locally)",
                ));
            }
        }
        if let Some(smtp) = &self.smtp
            && (smtp.host.contains(char::is_whitespace) || smtp.host.contains('/'))
        {
            return Err(invalid("PINTA_SMTP_HOST", format!("{:?} is not a host name", smtp.host)));
        }
        self.policy.validate().map_err(|source| ConfigError::Policy { source })?;
        Ok(())
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn check_address(var: &'static str, value: &str) -> Result<(), ConfigError> {
    value
        .parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| invalid(var, format!("{value:?} is not an e-mail address ({e})")))
}
