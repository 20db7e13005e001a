//! `pinta-notifier`: the notifier as its own process (worker: polls `PINTA_QUEUE_URL`) or as an AWS
//! Lambda (SQS batches, when `AWS_LAMBDA_RUNTIME_API` is set). Alerts go to the channels of
//! `NotifierConfig::from_env`: with `PINTA_ALERTS_TOPIC_ARN` they are published to that SNS topic
//! (ops subscribe to it by e-mail); the outbox folder — the fallback when the topic or relay stays
//! down — is `PINTA_OUTBOX_DIR` (default: the system temp directory's `pinta-outbox`, the only
//! writable place on Lambda).

use std::path::PathBuf;
use std::sync::Arc;

use pinta_notifier::AlertTopic;
use pinta_platform::aws::SnsAlertPublisher;
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
    let topic = match &config.alerts_topic_arn {
        Some(arn) => {
            let sdk = pinta_platform::aws::sdk_config(&stage.config.aws).await;
            Some(Arc::new(SnsAlertPublisher::new(&sdk, arn.clone())) as Arc<dyn AlertTopic>)
        }
        None => None,
    };
    let handler = Arc::new(
        pinta_notifier::Notifier::with_topic(config, stage.store.clone(), stage.clock.clone(), topic).await?,
    );
    run_consumer(stage, handler).await?;
    Ok(())
}
