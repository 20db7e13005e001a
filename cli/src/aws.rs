//! `pinta aws …`: the AWS side of the command line.
//!
//! * `pinta aws bootstrap` — creates the bucket, topics, queues, DLQs and filtered subscriptions on an
//!   emulator (`AWS_ENDPOINT_URL`) or a sandbox account, and prints the `PINTA_*` variables of every
//!   service (production infrastructure is the CDK app's job).
//! * `pinta aws dlq list|replay` — dead letters in an SQS DLQ (`PINTA_DLQ_URL` or `--dlq-url`);
//!   replay re-publishes to the pipeline topic (`PINTA_PIPELINE_TOPIC_ARN`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap};
use pinta_platform::aws::config::{AwsSettings, Env};
use pinta_platform::aws::{SnsPublisher, SqsDeadLetterStore};
use pinta_platform::ports::{DeadLetterStore, replay_dead_letter};

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Create the development resources (idempotent) and print the services' variables.
    Bootstrap(BootstrapArgs),
    /// Dead letters in an SQS dead-letter queue.
    #[command(subcommand)]
    Dlq(AwsDlqCommand),
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Resource name prefix.
    #[arg(long, env = "PINTA_AWS_PREFIX", default_value = "pinta-dev")]
    pub prefix: String,
    /// Data bucket name (default: `<prefix>-data`).
    #[arg(long, env = "PINTA_BUCKET")]
    pub bucket: Option<String>,
    /// Receives before SQS moves a message to its DLQ.
    #[arg(long, default_value_t = 5)]
    pub max_receive_count: u32,
    /// Visibility timeout of the consumer queues, in seconds.
    #[arg(long, default_value_t = 300)]
    pub visibility_timeout: u64,
    /// Print the result as JSON instead of `export` lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AwsDlqCommand {
    /// List the entries of the DLQ.
    List {
        #[arg(long, env = "PINTA_DLQ_URL")]
        dlq_url: String,
    },
    /// Re-publish entries to the pipeline topic and remove them from the DLQ.
    Replay {
        #[arg(long, env = "PINTA_DLQ_URL")]
        dlq_url: String,
        #[arg(long, env = "PINTA_PIPELINE_TOPIC_ARN")]
        topic_arn: String,
        ids: Vec<String>,
        #[arg(long)]
        all: bool,
    },
}

async fn sdk() -> anyhow::Result<(pinta_platform::aws::SdkConfig, AwsSettings)> {
    let settings = AwsSettings::from_env(&Env::process())?;
    Ok((pinta_platform::aws::sdk_config(&settings).await, settings))
}

pub async fn run(cmd: AwsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AwsCommand::Bootstrap(args) => {
            let (sdk, settings) = sdk().await?;
            let spec = BootstrapSpec {
                bucket: args.bucket.clone().unwrap_or_else(|| format!("{}-data", args.prefix)),
                prefix: args.prefix,
                max_receive_count: args.max_receive_count,
                visibility_timeout: Duration::from_secs(args.visibility_timeout),
                path_style: settings.path_style(),
            };
            let res = bootstrap(&sdk, &spec).await.context("bootstrapping the AWS resources")?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&res)?);
            } else {
                for service in ["extractor", "transformer", "validator", "notifier", "gateway"] {
                    println!("# {service}");
                    for (k, v) in res.env_for(service) {
                        println!("export {k}={v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AwsCommand::Dlq(AwsDlqCommand::List { dlq_url }) => {
            let (sdk, _) = sdk().await?;
            let letters = SqsDeadLetterStore::new(&sdk, dlq_url).list(None).await?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                println!(
                    "{}  {}  {}  {}  receives={}  {}",
                    l.id,
                    l.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
                    l.queue,
                    l.code,
                    l.receive_count,
                    l.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AwsCommand::Dlq(AwsDlqCommand::Replay { dlq_url, topic_arn, ids, all }) => {
            let (sdk, _) = sdk().await?;
            let store = SqsDeadLetterStore::new(&sdk, dlq_url);
            let publisher = SnsPublisher::new(&sdk, topic_arn);
            let ids: Vec<String> = if all { store.list(None).await?.into_iter().map(|l| l.id).collect() } else { ids };
            if ids.is_empty() {
                bail!("name dead-letter ids to replay, or --all");
            }
            let mut failed = 0;
            for id in &ids {
                match replay_dead_letter(&store, &publisher, id).await {
                    Ok(env) => println!("replayed {id} ({} {})", env.event_type, env.id),
                    Err(e) => {
                        failed += 1;
                        eprintln!("could not replay {id}: {e}");
                    }
                }
            }
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
