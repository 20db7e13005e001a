//! `pinta-notifier`: the notifier as its own process (worker: polls `PINTA_QUEUE_URL`) or as an AWS
//! Lambda (SQS batches, when `AWS_LAMBDA_RUNTIME_API` is set). Alerts go to the channels of
//! `NotifierConfig::from_env`; the outbox folder is `PINTA_OUTBOX_DIR` (default: the system temp
//! directory's `pinta-outbox`, the only writable place on Lambda).

use std::path::PathBuf;
use std::sync::Arc;

use pinta_platform::telemetry::{self, LogFormat};
use pinta_platform::worker::{AwsStage, Role, run_consumer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::from_env(), "info");
    let outbox = std::env::var_os("PINTA_OUTBOX_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("pinta-outbox"));
    let config = pinta_notifier::NotifierConfig::from_env(outbox)?;
    let stage = AwsStage::from_env(Role::Consumer).await?;
    let handler = Arc::new(pinta_notifier::Notifier::new(config, stage.store.clone(), stage.clock.clone()).await?);
    run_consumer(stage, handler).await?;
    Ok(())
}
