//! `pinta-extractor`: extracts one production day from the source database and publishes
//! `production.extracted.v1`.
//!
//! * Under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) each EventBridge scheduled event extracts the
//!   latest production day.
//! * Otherwise it runs once: `pinta-extractor [YYYY-MM-DD]` (default: the latest production day) and
//!   exits non-zero if the extraction failed (after publishing `pipeline.failed.v1`).
//!
//! The source is `PINTA_SOURCE_URL` or the Secrets Manager secret `PINTA_SOURCE_SECRET_ARN`; the rest of
//! the configuration is described in `pinta_platform::worker`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use pinta_extractor::Extractor;
use pinta_platform::aws::config::Env;
use pinta_platform::ports::ProductionSource;
use pinta_platform::retry::RetryPolicy;
use pinta_platform::sql::SqlSource;
use pinta_platform::telemetry::{self, LogFormat};
use pinta_platform::worker::{AwsStage, Mode, Role};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init(LogFormat::from_env(), "info");
    let day = match std::env::args().nth(1) {
        Some(a) => Some(NaiveDate::parse_from_str(&a, "%Y-%m-%d").with_context(|| format!("day {a:?} is not YYYY-MM-DD"))?),
        None => None,
    };
    let stage = AwsStage::from_env(Role::Producer).await?;
    let url = stage.source_url(&Env::process()).await?;
    let source = SqlSource::connect(&url, Duration::from_secs(10)).await.context("opening the source database")?;
    let source = Arc::new(source) as Arc<dyn ProductionSource>;
    let extractor = Arc::new(Extractor::new(source, stage.store.clone(), stage.clock.clone()));
    let publisher = stage.publisher.clone();
    match Mode::detect() {
        Mode::Lambda => {
            pinta_platform::lambda::run_scheduled(move |_event| {
                let extractor = extractor.clone();
                let publisher = publisher.clone();
                async move {
                    let out = extractor.extract_and_publish(publisher.as_ref(), None, &RetryPolicy::default()).await?;
                    Ok::<String, pinta_extractor::ExtractError>(match out {
                        Some(x) => format!("extracted {} ({} rows)", x.day, x.rows),
                        None => "no production day yet".to_owned(),
                    })
                }
            })
            .await?;
        }
        Mode::Worker => match extractor.extract_and_publish(publisher.as_ref(), day, &RetryPolicy::default()).await? {
            Some(x) => tracing::info!(day = %x.day, rows = x.rows, created = x.created, "extracted"),
            None => tracing::info!("the source has no production day yet"),
        },
    }
    Ok(())
}
