//! `pinta-extractor`: extracts one production day from the source database and publishes
//! `production.extracted.v1`.
//!
//! * Under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) each EventBridge scheduled event extracts the
//!   latest production day, then runs the incremental pass (already-extracted days whose source rows
//!   changed are re-published as a new revision).
//! * Otherwise it runs once: `pinta-extractor [YYYY-MM-DD]` (default: the latest production day), then
//!   the incremental pass, and exits non-zero if either failed (after publishing `pipeline.failed.v1`).
//!
//! The database is not contacted at start-up: a database that is down makes the run fail with
//! `pipeline.failed.v1` (code `SOURCE_UNAVAILABLE`, retryable) within the bounds of
//! `PINTA_SOURCE_CONNECT_TIMEOUT_SECS` / `PINTA_SOURCE_QUERY_TIMEOUT_SECS` and the retry policy, instead
//! of the process dying without a trace in the pipeline.
//!
//! The source is `PINTA_SOURCE_URL` or the Secrets Manager secret `PINTA_SOURCE_SECRET_ARN`; the rest of
//! the configuration is described in `pinta_platform::worker`.

use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use pinta_extractor::{Extractor, IncrementalConfig};
use pinta_platform::aws::config::Env;
use pinta_platform::ports::ProductionSource;
use pinta_platform::retry::RetryPolicy;
use pinta_platform::sql::{SourceSettings, SqlSource};
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
    let settings = SourceSettings::from_env()?;
    let incremental = IncrementalConfig::from_env()?;
    let source = SqlSource::open(&url, settings).context("configuring the source database")?;
    let source = Arc::new(source) as Arc<dyn ProductionSource>;
    let extractor =
        Arc::new(Extractor::new(source, stage.store.clone(), stage.clock.clone()).with_incremental(incremental));
    let publisher = stage.publisher.clone();
    match Mode::detect() {
        Mode::Lambda => {
            pinta_platform::lambda::run_scheduled(move |_event| {
                let extractor = extractor.clone();
                let publisher = publisher.clone();
                async move {
                    let retry = RetryPolicy::default();
                    let out = extractor.extract_and_publish(publisher.as_ref(), None, &retry).await?;
                    let refresh = extractor.refresh_changed(publisher.as_ref(), &retry).await?;
                    Ok::<String, pinta_extractor::ExtractError>(format!(
                        "{}; {} changed day(s) re-published",
                        match out {
                            Some(x) => format!("extracted {} ({} rows)", x.day, x.rows),
                            None => "no production day yet".to_owned(),
                        },
                        refresh.republished.len()
                    ))
                }
            })
            .await?;
        }
        Mode::Worker => {
            let retry = RetryPolicy::default();
            match extractor.extract_and_publish(publisher.as_ref(), day, &retry).await? {
                Some(x) => tracing::info!(day = %x.day, rows = x.rows, created = x.created, revision = x.revision, "extracted"),
                None => tracing::info!("the source has no production day yet"),
            }
            let refresh = extractor.refresh_changed(publisher.as_ref(), &retry).await?;
            if !refresh.failed.is_empty() {
                anyhow::bail!("re-extracting changed days failed for {:?}", refresh.failed);
            }
        }
    }
    Ok(())
}
