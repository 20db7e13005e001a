//! Typed configuration of the AWS binaries, read from the environment and validated at start-up.
//!
//! Every failure names the variable: a missing or malformed value is a [`ConfigError`] that says which
//! variable to set and what was wrong with it, before any AWS call is made.

use std::collections::HashMap;

/// A configuration value that is missing or wrong.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {var} is not set ({what})")]
    Missing { var: &'static str, what: &'static str },
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
}

impl ConfigError {
    /// Configuration errors never fix themselves.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Where the variables come from: the process environment, or a map (tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    map: Option<HashMap<String, String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env { map: None }
    }

    /// A fixed set of variables (nothing is read from the process).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { map: Some(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()) }
    }

    /// The trimmed value; empty counts as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        let v = match &self.map {
            Some(m) => m.get(var).cloned(),
            None => std::env::var(var).ok(),
        }?;
        let v = v.trim().to_owned();
        if v.is_empty() { None } else { Some(v) }
    }

    pub fn required(&self, var: &'static str, what: &'static str) -> Result<String, ConfigError> {
        self.get(var).ok_or(ConfigError::Missing { var, what })
    }

    /// An `http://` or `https://` URL.
    pub fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(v) => {
                let ok = (v.starts_with("http://") || v.starts_with("https://")) && v.len() > "https://".len() - 1;
                if ok && !v.contains(char::is_whitespace) {
                    Ok(Some(v))
                } else {
                    Err(ConfigError::Invalid { var, value: v, reason: "expected an http:// or https:// URL".into() })
                }
            }
        }
    }

    pub fn required_url(&self, var: &'static str, what: &'static str) -> Result<String, ConfigError> {
        self.url(var)?.ok_or(ConfigError::Missing { var, what })
    }

    /// An ARN of the given service (`arn:<partition>:<service>:...`).
    pub fn arn(&self, var: &'static str, service: &str) -> Result<Option<String>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(v) => {
                let parts: Vec<&str> = v.splitn(6, ':').collect();
                if parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty() {
                    Ok(Some(v))
                } else {
                    Err(ConfigError::Invalid {
                        var,
                        value: v,
                        reason: format!("expected an {service} ARN (arn:aws:{service}:<region>:<account>:<name>)"),
                    })
                }
            }
        }
    }

    pub fn required_arn(&self, var: &'static str, service: &str, what: &'static str) -> Result<String, ConfigError> {
        self.arn(var, service)?.ok_or(ConfigError::Missing { var, what })
    }

    /// An S3 bucket name (3–63 lowercase letters, digits, `-`, `.`).
    pub fn bucket(&self, var: &'static str) -> Result<String, ConfigError> {
        let v = self.required(var, "the data bucket name")?;
        let ok = (3..=63).contains(&v.len())
            && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric());
        if ok {
            Ok(v)
        } else {
            Err(ConfigError::Invalid { var, value: v, reason: "not a valid S3 bucket name".into() })
        }
    }
}

/// How to reach AWS: `AWS_ENDPOINT_URL` (emulators), `AWS_REGION` / `AWS_DEFAULT_REGION`. Credentials
/// come from the SDK's standard chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, role, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

impl AwsSettings {
    pub fn from_env(env: &Env) -> Result<AwsSettings, ConfigError> {
        let endpoint_url = env.url("AWS_ENDPOINT_URL")?;
        let region = env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION"));
        if let Some(r) = &region
            && !r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ConfigError::Invalid {
                var: "AWS_REGION",
                value: r.clone(),
                reason: "not a region name like eu-west-1".into(),
            });
        }
        if region.is_none() {
            return Err(ConfigError::Missing { var: "AWS_REGION", what: "the AWS region, e.g. eu-west-1" });
        }
        Ok(AwsSettings { endpoint_url, region })
    }

    /// Whether S3 must be addressed path-style (any custom endpoint: emulators have no per-bucket DNS).
    pub fn path_style(&self) -> bool {
        self.endpoint_url.is_some()
    }
}

/// The configuration every stage binary shares in AWS (worker or Lambda).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    pub aws: AwsSettings,
    /// `PINTA_BUCKET`.
    pub bucket: String,
    /// `PINTA_PIPELINE_TOPIC_ARN`: where stage events are published.
    pub pipeline_topic_arn: Option<String>,
    /// `PINTA_PUBLIC_TOPIC_ARN`: also receives `production.published.v1` and `rows.quarantined.v1`.
    pub public_topic_arn: Option<String>,
    /// `PINTA_ALERTS_TOPIC_ARN`.
    pub alerts_topic_arn: Option<String>,
    /// `PINTA_QUEUE_URL`: the service's own queue (worker mode).
    pub queue_url: Option<String>,
    /// `PINTA_DLQ_URL`: where dead letters go.
    pub dlq_url: Option<String>,
}

impl StageConfig {
    /// Reads and validates. `needs_queue`: worker mode needs `PINTA_QUEUE_URL`; `needs_pipeline_topic`:
    /// the service publishes stage events.
    pub fn from_env(env: &Env, needs_queue: bool, needs_pipeline_topic: bool) -> Result<StageConfig, ConfigError> {
        let aws = AwsSettings::from_env(env)?;
        let bucket = env.bucket("PINTA_BUCKET")?;
        let pipeline_topic_arn = if needs_pipeline_topic {
            Some(env.required_arn("PINTA_PIPELINE_TOPIC_ARN", "sns", "the pipeline topic ARN")?)
        } else {
            env.arn("PINTA_PIPELINE_TOPIC_ARN", "sns")?
        };
        let public_topic_arn = env.arn("PINTA_PUBLIC_TOPIC_ARN", "sns")?;
        let alerts_topic_arn = env.arn("PINTA_ALERTS_TOPIC_ARN", "sns")?;
        let queue_url = if needs_queue {
            Some(env.required_url("PINTA_QUEUE_URL", "the service's own SQS queue URL (worker mode)")?)
        } else {
            env.url("PINTA_QUEUE_URL")?
        };
        let dlq_url = env.url("PINTA_DLQ_URL")?;
        Ok(StageConfig { aws, bucket, pipeline_topic_arn, public_topic_arn, alerts_topic_arn, queue_url, dlq_url })
    }
}

/// The consumers `pinta up --aws` runs in one process, with the variables naming their queue and DLQ.
pub const UP_CONSUMERS: [(&str, &str, &str); 4] = [
    ("transformer", "PINTA_TRANSFORMER_QUEUE_URL", "PINTA_TRANSFORMER_DLQ_URL"),
    ("validator", "PINTA_VALIDATOR_QUEUE_URL", "PINTA_VALIDATOR_DLQ_URL"),
    ("notifier", "PINTA_NOTIFIER_QUEUE_URL", "PINTA_NOTIFIER_DLQ_URL"),
    ("gateway", "PINTA_GATEWAY_QUEUE_URL", "PINTA_GATEWAY_DLQ_URL"),
];

/// One consumer's queue and dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerQueues {
    pub queue_url: String,
    pub dlq_url: String,
}

/// The configuration of `pinta up --aws`: every service in one process, each consumer on its own queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpConfig {
    pub aws: AwsSettings,
    /// `PINTA_BUCKET`.
    pub bucket: String,
    /// `PINTA_PIPELINE_TOPIC_ARN`.
    pub pipeline_topic_arn: String,
    /// `PINTA_PUBLIC_TOPIC_ARN` (optional): also receives `production.published.v1` and `rows.quarantined.v1`.
    pub public_topic_arn: Option<String>,
    /// Keyed by consumer name (`transformer`, `validator`, `notifier`, `gateway`), from [`UP_CONSUMERS`].
    pub consumers: std::collections::BTreeMap<&'static str, ConsumerQueues>,
}

impl UpConfig {
    /// Reads and validates every variable; the first missing or malformed one is the error.
    pub fn from_env(env: &Env) -> Result<UpConfig, ConfigError> {
        let aws = AwsSettings::from_env(env)?;
        let bucket = env.bucket("PINTA_BUCKET")?;
        let pipeline_topic_arn = env.required_arn("PINTA_PIPELINE_TOPIC_ARN", "sns", "the pipeline topic ARN")?;
        let public_topic_arn = env.arn("PINTA_PUBLIC_TOPIC_ARN", "sns")?;
        let mut consumers = std::collections::BTreeMap::new();
        for (name, queue_var, dlq_var) in UP_CONSUMERS {
            let queue_url =
                env.required_url(queue_var, "a consumer's SQS queue URL (printed by `pinta aws bootstrap --only up`)")?;
            let dlq_url = env.required_url(
                dlq_var,
                "a consumer's dead-letter queue URL (printed by `pinta aws bootstrap --only up`)",
            )?;
            consumers.insert(name, ConsumerQueues { queue_url, dlq_url });
        }
        Ok(UpConfig { aws, bucket, pipeline_topic_arn, public_topic_arn, consumers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_REGION", "eu-west-1"),
            ("PINTA_BUCKET", "pinta-data"),
            ("PINTA_PIPELINE_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:pinta-dev-pipeline"),
            ("PINTA_QUEUE_URL", "http://localhost:4566/123456789012/pinta-dev-transformer"),
        ]
    }

    #[test]
    fn a_complete_environment_is_accepted() {
        let c = StageConfig::from_env(&Env::from_pairs(base()), true, true).unwrap();
        assert_eq!(c.bucket, "pinta-data");
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));
        assert!(c.public_topic_arn.is_none());
    }

    #[test]
    fn errors_name_the_variable() {
        for var in ["AWS_REGION", "PINTA_BUCKET", "PINTA_PIPELINE_TOPIC_ARN", "PINTA_QUEUE_URL"] {
            let env = Env::from_pairs(base().into_iter().filter(|(k, _)| *k != var));
            let err = StageConfig::from_env(&env, true, true).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
        let mut wrong = base();
        wrong.push(("PINTA_PUBLIC_TOPIC_ARN", "arn:aws:sqs:eu-west-1:1:x"));
        let err = StageConfig::from_env(&Env::from_pairs(wrong), true, true).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "PINTA_PUBLIC_TOPIC_ARN", .. }), "{err}");
        let mut wrong = base();
        wrong.retain(|(k, _)| *k != "PINTA_BUCKET");
        wrong.push(("PINTA_BUCKET", "Not_A_Bucket"));
        let err = StageConfig::from_env(&Env::from_pairs(wrong), true, true).unwrap_err();
        assert!(err.to_string().contains("PINTA_BUCKET"), "{err}");
        let mut wrong = base();
        wrong.push(("AWS_ENDPOINT_URL", "localhost:4566"));
        let err = StageConfig::from_env(&Env::from_pairs(wrong), true, true).unwrap_err();
        assert!(err.to_string().contains("AWS_ENDPOINT_URL"), "{err}");
    }

    fn up_base() -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("AWS_REGION", "eu-west-1".to_owned()),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000".to_owned()),
            ("PINTA_BUCKET", "pinta-dev-data".to_owned()),
            ("PINTA_PIPELINE_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:pinta-dev-pipeline".to_owned()),
        ];
        for (name, q, d) in UP_CONSUMERS {
            v.push((q, format!("http://127.0.0.1:5000/123456789012/pinta-dev-{name}")));
            v.push((d, format!("http://127.0.0.1:5000/123456789012/pinta-dev-{name}-dlq")));
        }
        v
    }

    #[test]
    fn up_config_reads_every_consumer_and_names_what_is_missing_or_wrong() {
        let c = UpConfig::from_env(&Env::from_pairs(up_base())).unwrap();
        assert_eq!(c.consumers.len(), 4);
        assert!(c.consumers["validator"].dlq_url.ends_with("/pinta-dev-validator-dlq"));
        assert!(c.public_topic_arn.is_none());
        assert!(c.aws.path_style());
        let vars: Vec<&str> = up_base().iter().map(|(k, _)| *k).collect();
        for var in vars {
            let env = Env::from_pairs(up_base().into_iter().filter(|(k, _)| *k != var));
            match UpConfig::from_env(&env) {
                // The endpoint is optional (real AWS); everything else is required.
                Ok(_) => assert_eq!(var, "AWS_ENDPOINT_URL"),
                Err(e) => assert!(e.to_string().contains(var), "{var}: {e}"),
            }
        }
        let mut wrong = up_base();
        wrong.retain(|(k, _)| *k != "PINTA_NOTIFIER_DLQ_URL");
        wrong.push(("PINTA_NOTIFIER_DLQ_URL", "pinta-dev-notifier-dlq".to_owned()));
        let err = UpConfig::from_env(&Env::from_pairs(wrong)).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "PINTA_NOTIFIER_DLQ_URL", .. }), "{err}");
        let mut wrong = up_base();
        wrong.push(("PINTA_PUBLIC_TOPIC_ARN", "pinta-dev-public".to_owned()));
        let err = UpConfig::from_env(&Env::from_pairs(wrong)).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "PINTA_PUBLIC_TOPIC_ARN", .. }), "{err}");
    }
}
