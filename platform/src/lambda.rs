//! The AWS Lambda runner: the same [`Runner::process`] as the worker and in-process modes, fed by the
//! Lambda runtime instead of a receive loop.
//!
//! * SQS-triggered stages ([`run_sqs`], [`handle_sqs_batch`]): each record becomes a [`Message`];
//!   [`Disposition::RetryLater`] is reported in `batchItemFailures` (Lambda leaves exactly those
//!   messages on the queue), everything else is success — dead letters are already stored and
//!   announced by the runner, so one poison message never fails the batch.
//! * The scheduled extractor ([`run_scheduled`]): an EventBridge scheduled event calls the given job.
//!
//! Ack is Lambda's job (it deletes what succeeded), so the receiver given to the runner only changes
//! visibility (retry delays, heartbeats) when the queue URL is known.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};

use crate::aws::SqsReceiver;
use crate::ports::{BusError, EventReceiver, Message};
use crate::runner::{Disposition, EventHandler, Runner};
use crate::worker::{AwsStage, RunError};

/// Converts an SQS record of a Lambda event to the port's [`Message`].
pub fn sqs_message(record: &SqsMessage, queue: &str) -> Message {
    Message {
        message_id: record.message_id.clone().unwrap_or_default(),
        receipt: record.receipt_handle.clone().unwrap_or_default(),
        body: record.body.clone().unwrap_or_default(),
        attributes: record
            .message_attributes
            .iter()
            .filter_map(|(k, v)| v.string_value.clone().map(|s| (k.clone(), s)))
            .collect(),
        receive_count: record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        queue: queue.to_owned(),
    }
}

/// The queue name of a record (`arn:aws:sqs:<region>:<account>:<name>`).
fn queue_of(record: &SqsMessage) -> String {
    record.event_source_arn.as_deref().and_then(|a| a.rsplit(':').next()).unwrap_or("lambda").to_owned()
}

/// Processes a batch; returns the records to leave on the queue.
pub async fn handle_sqs_batch(runner: &Runner, handler: &dyn EventHandler, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in &event.records {
        let message = sqs_message(record, &queue_of(record));
        let id = message.message_id.clone();
        let disposition = runner.process(handler, message).await;
        if let Disposition::RetryLater(_) = disposition {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The receiver the runner sees under Lambda: nothing to receive, ack left to Lambda, visibility changes
/// on the real queue when its URL is known.
#[derive(Debug)]
pub struct LambdaQueue {
    name: String,
    queue: Option<SqsReceiver>,
}

impl LambdaQueue {
    pub fn new(name: impl Into<String>, queue: Option<SqsReceiver>) -> Self {
        LambdaQueue { name: name.into(), queue }
    }
}

#[async_trait]
impl EventReceiver for LambdaQueue {
    fn name(&self) -> &str {
        &self.name
    }
    async fn receive(&self, _max: usize, _wait: Duration) -> Result<Vec<Message>, BusError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _message: &Message) -> Result<(), BusError> {
        Ok(())
    }
    async fn retry_later(&self, message: &Message, delay: Duration) -> Result<(), BusError> {
        match &self.queue {
            Some(q) => q.retry_later(message, delay).await,
            None => Ok(()),
        }
    }
    async fn extend(&self, message: &Message, by: Duration) -> Result<(), BusError> {
        match &self.queue {
            Some(q) => q.extend(message, by).await,
            None => Ok(()),
        }
    }
}

/// Serves SQS batches until the runtime stops.
pub async fn run_sqs(stage: AwsStage, handler: Arc<dyn EventHandler>) -> Result<(), RunError> {
    let queue = stage.receiver().map(|r| (*r).clone());
    let name = queue.as_ref().map(|q| q.name().to_owned()).unwrap_or_else(|| handler.name().to_owned());
    let runner = Arc::new(stage.runner(Arc::new(LambdaQueue::new(name, queue)))?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let runner = runner.clone();
        let handler = handler.clone();
        async move { Ok::<SqsBatchResponse, lambda_runtime::Error>(handle_sqs_batch(&runner, handler.as_ref(), event.payload).await) }
    }))
    .await
    .map_err(|e| RunError::Lambda(e.to_string()))
}

/// Serves EventBridge scheduled events by running `job` once per event; an error fails the invocation
/// (the scheduler's retry policy and DLQ take over).
pub async fn run_scheduled<F, Fut, E>(job: F) -> Result<(), RunError>
where
    F: Fn(EventBridgeEvent) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<String, E>> + Send,
    E: std::fmt::Display + Send,
{
    let job = Arc::new(job);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let job = job.clone();
        async move { job(event.payload).await.map_err(|e| lambda_runtime::Error::from(e.to_string())) }
    }))
    .await
    .map_err(|e| RunError::Lambda(e.to_string()))
}
