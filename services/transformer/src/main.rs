//! `pinta-transformer`: the transformer as its own process (worker: polls `PINTA_QUEUE_URL`) or as an
//! AWS Lambda (SQS batches, when `AWS_LAMBDA_RUNTIME_API` is set). Configuration: see
//! `pinta_platform::worker`.

use std::sync::Arc;

use pinta_platform::telemetry::{self, LogFormat};
use pinta_platform::worker::{AwsStage, Role, run_consumer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::from_env(), "info");
    let stage = AwsStage::from_env(Role::Consumer).await?;
    let handler = Arc::new(pinta_transformer::Transformer::new(stage.store.clone(), stage.clock.clone()));
    run_consumer(stage, handler).await?;
    Ok(())
}
