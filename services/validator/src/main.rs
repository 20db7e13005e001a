//! `pinta-validator`: the validator as its own process (worker: polls `PINTA_QUEUE_URL`) or as an AWS
//! Lambda (SQS batches, when `AWS_LAMBDA_RUNTIME_API` is set). It publishes to the pipeline topic and,
//! for `production.published.v1` and `rows.quarantined.v1`, to `PINTA_PUBLIC_TOPIC_ARN` too.

use std::sync::Arc;

use pinta_platform::telemetry::{self, LogFormat};
use pinta_platform::worker::{AwsStage, Role, run_consumer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::from_env(), "info");
    let rules = pinta_validator::ValidatorConfig::from_env()?.rules;
    let stage = AwsStage::from_env(Role::Consumer).await?;
    let handler = Arc::new(pinta_validator::Validator::new(
        stage.store.clone(),
        stage.publisher.clone(),
        stage.clock.clone(),
        rules,
    ));
    run_consumer(stage, handler).await?;
    Ok(())
}
