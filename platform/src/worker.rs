//! Runner selection for the stage binaries on AWS protocols, and the wiring they share.
//!
//! Three ways to run the same handler, chosen automatically:
//! * **in-process** — `pinta up` drives every handler on the embedded adapters (not this module);
//! * **worker** — the service's own process long-polls its SQS queue (`PINTA_QUEUE_URL`, subscribed to
//!   the pipeline topic with a filter policy on `type`) until SIGTERM / Ctrl-C;
//! * **Lambda** — when `AWS_LAMBDA_RUNTIME_API` is set, [`crate::lambda`] serves SQS batches.
//!
//! [`AwsStage::from_env`] builds the adapters from the environment once: S3 (`PINTA_BUCKET`), SNS
//! (`PINTA_PIPELINE_TOPIC_ARN`, plus `PINTA_PUBLIC_TOPIC_ARN` for `production.published.v1` and
//! `rows.quarantined.v1`), dead letters on the SQS DLQ (`PINTA_DLQ_URL`), the inbox in the bucket.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aws::config::{ConfigError, Env, StageConfig};
use crate::aws::{S3ObjectStore, SnsPublisher, SqsDeadLetterStore, SqsReceiver};
use crate::inbox::{Inbox, StoreInbox};
use crate::ports::{Clock, DeadLetterStore, EventPublisher, EventReceiver, ObjectStore, SystemClock};
use crate::retry::RetryPolicy;
use crate::runner::{EventHandler, Runner};

/// How a stage binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Own process, polling its own SQS queue.
    Worker,
    /// Under the AWS Lambda runtime.
    Lambda,
}

impl Mode {
    /// Lambda when `AWS_LAMBDA_RUNTIME_API` is set, worker otherwise.
    pub fn detect() -> Mode {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.is_empty()) { Mode::Lambda } else { Mode::Worker }
    }
}

/// What a stage binary is, for its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Consumes its queue (transformer, validator, notifier).
    Consumer,
    /// Triggered (schedule or command line): the extractor.
    Producer,
}

/// The AWS adapters of one stage binary.
#[derive(Debug, Clone)]
pub struct AwsStage {
    pub config: StageConfig,
    pub store: Arc<dyn ObjectStore>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Option<Arc<dyn DeadLetterStore>>,
    pub inbox: Arc<dyn Inbox>,
    pub clock: Arc<dyn Clock>,
    sdk: aws_config::SdkConfig,
}

/// Why a stage binary stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the Lambda runtime failed: {0}")]
    Lambda(String),
}

impl AwsStage {
    /// Reads and validates the environment, then builds the adapters (no network call yet).
    pub async fn from_env(role: Role) -> Result<AwsStage, ConfigError> {
        Self::from_vars(&Env::process(), role).await
    }

    pub async fn from_vars(env: &Env, role: Role) -> Result<AwsStage, ConfigError> {
        // Workers need their queue; a Lambda is handed its messages. The notifier has no pipeline topic
        // (it reports to the alerts topic), every other stage publishes to the pipeline topic.
        let lambda = Mode::detect() == Mode::Lambda;
        let needs_queue = role == Role::Consumer && !lambda;
        let config = StageConfig::from_env(env, needs_queue, false)?;
        let topic = match (&config.pipeline_topic_arn, &config.alerts_topic_arn) {
            (Some(t), _) | (None, Some(t)) => t.clone(),
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "PINTA_PIPELINE_TOPIC_ARN",
                    what: "the pipeline topic ARN (or PINTA_ALERTS_TOPIC_ARN for the notifier)",
                });
            }
        };
        if role == Role::Consumer && config.dlq_url.is_none() {
            return Err(ConfigError::Missing { var: "PINTA_DLQ_URL", what: "the service's dead-letter queue URL" });
        }
        let sdk = crate::aws::sdk_config(&config.aws).await;
        let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&sdk, &config.bucket, config.aws.path_style()));
        let publisher: Arc<dyn EventPublisher> =
            Arc::new(SnsPublisher::new(&sdk, topic).with_public_topic(config.public_topic_arn.clone()));
        let dead_letters = config
            .dlq_url
            .as_ref()
            .map(|u| Arc::new(SqsDeadLetterStore::new(&sdk, u)) as Arc<dyn DeadLetterStore>);
        let inbox: Arc<dyn Inbox> = Arc::new(StoreInbox::new(store.clone()));
        Ok(AwsStage { config, store, publisher, dead_letters, inbox, clock: Arc::new(SystemClock), sdk })
    }

    /// The source database URL: `PINTA_SOURCE_URL`, else the Secrets Manager secret
    /// `PINTA_SOURCE_SECRET_ARN`.
    pub async fn source_url(&self, env: &Env) -> Result<String, crate::aws::secrets::SecretError> {
        crate::aws::secrets::source_url(env, &self.sdk).await
    }

    /// The service's own queue, when configured.
    pub fn receiver(&self) -> Option<Arc<SqsReceiver>> {
        self.config.queue_url.as_ref().map(|u| Arc::new(SqsReceiver::new(&self.sdk, u)))
    }

    /// A runner over `receiver` with the stage's adapters.
    pub fn runner(&self, receiver: Arc<dyn EventReceiver>) -> Result<Runner, ConfigError> {
        let dead_letters = self
            .dead_letters
            .clone()
            .ok_or(ConfigError::Missing { var: "PINTA_DLQ_URL", what: "the service's dead-letter queue URL" })?;
        Ok(Runner {
            receiver,
            publisher: self.publisher.clone(),
            dead_letters,
            inbox: self.inbox.clone(),
            clock: self.clock.clone(),
            retry: RetryPolicy::default(),
            batch: 10,
            wait: Duration::from_secs(20),
            heartbeat: Duration::from_secs(20),
        })
    }
}

/// Runs a consumer in the mode the environment selects: Lambda (SQS batches) or worker (polls its queue
/// until SIGTERM or Ctrl-C, finishing the message in hand).
pub async fn run_consumer(stage: AwsStage, handler: Arc<dyn EventHandler>) -> Result<(), RunError> {
    match Mode::detect() {
        Mode::Lambda => crate::lambda::run_sqs(stage, handler).await,
        Mode::Worker => {
            let receiver = stage.receiver().ok_or(ConfigError::Missing {
                var: "PINTA_QUEUE_URL",
                what: "the service's own SQS queue URL (worker mode)",
            })?;
            let runner = stage.runner(receiver)?;
            let shutdown = CancellationToken::new();
            let on_signal = shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                on_signal.cancel();
            });
            runner.run(handler, shutdown).await;
            Ok(())
        }
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
