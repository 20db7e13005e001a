//! Creates the AWS resources the pipeline needs, for local development on an emulator or a sandbox
//! account (production infrastructure is the CDK app's job; the names and wiring here follow it):
//!
//! * the data bucket;
//! * the topics `<prefix>-pipeline`, `<prefix>-public`, `<prefix>-alerts`;
//! * for each consumer (`transformer`, `validator`, `notifier`, `gateway`) a queue `<prefix>-<name>`
//!   with a DLQ `<prefix>-<name>-dlq` (redrive after `max_receive_count` receives), subscribed to the
//!   pipeline topic with raw message delivery and a filter policy on the `type` message attribute;
//! * the extractor's DLQ `<prefix>-extractor-dlq`.
//!
//! Every step is idempotent: running it again finds what exists and returns the same identifiers.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use pinta_contracts::EventType;
use serde::Serialize;

use super::s3::S3ObjectStore;
use super::{boxed, classify};
use crate::ports::StoreError;

/// Which event types each consumer's queue receives (the filter policy), as in the CDK app.
pub fn subscriptions() -> Vec<(&'static str, Vec<EventType>)> {
    vec![
        ("transformer", vec![EventType::ProductionExtractedV1]),
        ("validator", vec![EventType::ProductionTransformedV1]),
        ("notifier", vec![EventType::PipelineFailedV1, EventType::RowsQuarantinedV1]),
        ("gateway", vec![EventType::ProductionPublishedV1]),
    ]
}

/// What to create.
#[derive(Debug, Clone)]
pub struct BootstrapSpec {
    /// Resource name prefix, e.g. `pinta-dev`.
    pub prefix: String,
    pub bucket: String,
    pub max_receive_count: u32,
    pub visibility_timeout: Duration,
    pub path_style: bool,
}

/// A consumer's queue and its DLQ.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QueuePair {
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// What exists after bootstrapping.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Resources {
    pub bucket: String,
    pub pipeline_topic_arn: String,
    pub public_topic_arn: String,
    pub alerts_topic_arn: String,
    /// Keyed by consumer name.
    pub queues: BTreeMap<String, QueuePair>,
    pub extractor_dlq_url: String,
}

impl Resources {
    /// The `PINTA_*` variables a service's process needs (worker mode).
    pub fn env_for(&self, service: &str) -> Vec<(String, String)> {
        let mut v = vec![
            ("PINTA_BUCKET".to_owned(), self.bucket.clone()),
            ("PINTA_PIPELINE_TOPIC_ARN".to_owned(), self.pipeline_topic_arn.clone()),
            ("PINTA_PUBLIC_TOPIC_ARN".to_owned(), self.public_topic_arn.clone()),
            ("PINTA_ALERTS_TOPIC_ARN".to_owned(), self.alerts_topic_arn.clone()),
        ];
        if let Some(q) = self.queues.get(service) {
            v.push(("PINTA_QUEUE_URL".to_owned(), q.queue_url.clone()));
            v.push(("PINTA_DLQ_URL".to_owned(), q.dlq_url.clone()));
        } else if service == "extractor" {
            v.push(("PINTA_DLQ_URL".to_owned(), self.extractor_dlq_url.clone()));
        }
        v
    }

    /// The variables of `pinta up --aws` (every service in one process; see
    /// [`super::config::UpConfig`]).
    pub fn env_for_up(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("PINTA_BUCKET".to_owned(), self.bucket.clone()),
            ("PINTA_PIPELINE_TOPIC_ARN".to_owned(), self.pipeline_topic_arn.clone()),
            ("PINTA_PUBLIC_TOPIC_ARN".to_owned(), self.public_topic_arn.clone()),
        ];
        for (name, queue_var, dlq_var) in super::config::UP_CONSUMERS {
            if let Some(q) = self.queues.get(name) {
                v.push((queue_var.to_owned(), q.queue_url.clone()));
                v.push((dlq_var.to_owned(), q.dlq_url.clone()));
            }
        }
        v
    }
}

/// A bootstrap step that failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("creating the bucket: {0}")]
    Bucket(#[source] StoreError),
    #[error("{step}: {source}")]
    Aws { step: String, retryable: bool, source: Box<dyn std::error::Error + Send + Sync + 'static> },
    #[error("{step}: the response had no {what}")]
    Incomplete { step: String, what: &'static str },
}

impl BootstrapError {
    pub fn is_retryable(&self) -> bool {
        match self {
            BootstrapError::Bucket(e) => e.is_retryable(),
            BootstrapError::Aws { retryable, .. } => *retryable,
            BootstrapError::Incomplete { .. } => false,
        }
    }
}

fn aws_err<E, R>(step: impl Into<String>) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> BootstrapError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: super::HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let step = step.into();
    move |e| BootstrapError::Aws { step, retryable: classify(&e), source: boxed(e) }
}

/// Creates a topic (idempotent: `CreateTopic` returns the existing ARN).
pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> Result<String, BootstrapError> {
    let out = sns.create_topic().name(name).send().await.map_err(aws_err(format!("creating topic {name}")))?;
    out.topic_arn.ok_or(BootstrapError::Incomplete { step: format!("creating topic {name}"), what: "topic ARN" })
}

/// Creates a queue with the given attributes and returns `(url, arn)`.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<(String, String), BootstrapError> {
    let step = format!("creating queue {name}");
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        req = req.attributes(k.clone(), v.clone());
    }
    let url = req.send().await.map_err(aws_err(step.clone()))?.queue_url.ok_or(BootstrapError::Incomplete { step: step.clone(), what: "queue URL" })?;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws_err(step.clone()))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or(BootstrapError::Incomplete { step, what: "queue ARN" })?;
    Ok((url, arn))
}

/// Creates a queue and its DLQ with a redrive policy after `max_receive_count` receives.
pub async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout: Duration,
    max_receive_count: u32,
) -> Result<QueuePair, BootstrapError> {
    let (dlq_url, dlq_arn) = create_queue(
        sqs,
        &format!("{name}-dlq"),
        &[(QueueAttributeName::MessageRetentionPeriod, (14 * 24 * 3600).to_string())],
    )
    .await?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string();
    let (queue_url, queue_arn) = create_queue(
        sqs,
        name,
        &[
            (QueueAttributeName::VisibilityTimeout, visibility_timeout.as_secs().to_string()),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await?;
    Ok(QueuePair { queue_url, queue_arn, dlq_url, dlq_arn })
}

/// Subscribes a queue to a topic with raw message delivery and a filter policy on `type` (`None`:
/// every type). Also grants the topic `sqs:SendMessage` on the queue (needed on real AWS).
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    queue: (&str, &str),
    types: Option<&[EventType]>,
) -> Result<String, BootstrapError> {
    let (queue_url, queue_arn) = queue;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FromTopic",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .map_err(aws_err(format!("allowing {topic_arn} to send to {queue_url}")))?;
    let step = format!("subscribing {queue_arn} to {topic_arn}");
    let mut req = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .return_subscription_arn(true);
    if let Some(types) = types {
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        req = req.attributes("FilterPolicy", serde_json::json!({ "type": names }).to_string());
    }
    let out = req.send().await.map_err(aws_err(step.clone()))?;
    out.subscription_arn.ok_or(BootstrapError::Incomplete { step, what: "subscription ARN" })
}

/// Creates the queue `name` and subscribes it to `topic_arn` with raw delivery and no filter: how an
/// outside consumer (or a test) watches a topic. Idempotent; returns the queue URL.
pub async fn watch_topic(sdk: &aws_config::SdkConfig, topic_arn: &str, name: &str) -> Result<String, BootstrapError> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (url, arn) = create_queue(&sqs, name, &[]).await?;
    subscribe_queue(&sns, &sqs, topic_arn, (&url, &arn), None).await?;
    Ok(url)
}

/// Creates everything (idempotent).
pub async fn bootstrap(sdk: &aws_config::SdkConfig, spec: &BootstrapSpec) -> Result<Resources, BootstrapError> {
    S3ObjectStore::new(sdk, &spec.bucket, spec.path_style).ensure_bucket().await.map_err(BootstrapError::Bucket)?;
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let p = &spec.prefix;
    let pipeline_topic_arn = create_topic(&sns, &format!("{p}-pipeline")).await?;
    let public_topic_arn = create_topic(&sns, &format!("{p}-public")).await?;
    let alerts_topic_arn = create_topic(&sns, &format!("{p}-alerts")).await?;
    let mut queues = BTreeMap::new();
    for (name, types) in subscriptions() {
        let pair = create_queue_with_dlq(&sqs, &format!("{p}-{name}"), spec.visibility_timeout, spec.max_receive_count).await?;
        subscribe_queue(&sns, &sqs, &pipeline_topic_arn, (&pair.queue_url, &pair.queue_arn), Some(&types)).await?;
        queues.insert(name.to_owned(), pair);
    }
    let (extractor_dlq_url, _) = create_queue(
        &sqs,
        &format!("{p}-extractor-dlq"),
        &[(QueueAttributeName::MessageRetentionPeriod, (14 * 24 * 3600).to_string())],
    )
    .await?;
    Ok(Resources {
        bucket: spec.bucket.clone(),
        pipeline_topic_arn,
        public_topic_arn,
        alerts_topic_arn,
        queues,
        extractor_dlq_url,
    })
}
