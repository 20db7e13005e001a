//! `pinta aws …`: the AWS side of the command line.
//!
//! * `pinta aws bootstrap` — creates the bucket, topics, queues, DLQs and filtered subscriptions on an
//!   emulator (`AWS_ENDPOINT_URL`) or a sandbox account, and prints the `PINTA_*` variables of every
//!   service (production infrastructure is the CDK app's job).
//! * `pinta aws dlq list|replay` — dead letters in an SQS DLQ (`PINTA_DLQ_URL` or `--dlq-url`);
//!   replay re-publishes to the pipeline topic (`PINTA_PIPELINE_TOPIC_ARN`).
//! * `pinta dlq list|replay --aws` (or `PINTA_MODE=aws`) — the same over every consumer's DLQ of
//!   `pinta up --aws` (the `PINTA_<CONSUMER>_DLQ_URL` variables), see [`dlq`].

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
    /// Print only the variables of one process: `up` (`pinta up --aws`) or a service name.
    #[arg(long, value_parser = ["up", "extractor", "transformer", "validator", "notifier", "gateway"])]
    pub only: Option<String>,
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
                let sections = ["up", "extractor", "transformer", "validator", "notifier", "gateway"];
                for section in sections.into_iter().filter(|s| args.only.as_deref().is_none_or(|o| o == *s)) {
                    let (title, vars) = match section {
                        "up" => ("pinta up --aws (every service in one process)".to_owned(), res.env_for_up()),
                        service => (service.to_owned(), res.env_for(service)),
                    };
                    println!("# {title}");
                    for (k, v) in vars {
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

/// Whether AWS mode is selected: the `--aws` flag, or `PINTA_MODE=aws` (`PINTA_MODE=embedded` or unset
/// leaves the choice to the flag).
pub fn selected(flag: bool) -> anyhow::Result<bool> {
    match std::env::var("PINTA_MODE").ok().map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("embedded") => Ok(flag),
        Some("aws") => Ok(true),
        Some(other) => bail!("environment variable PINTA_MODE={other:?} is invalid: expected `embedded` or `aws`"),
    }
}

/// The AWS side of `pinta dlq … --aws`.
#[derive(Debug, Clone, Default, Args)]
pub struct DlqAwsArgs {
    /// Dead letters in the SQS DLQs of `pinta up --aws` (also selected by `PINTA_MODE=aws`).
    #[arg(long)]
    pub aws: bool,
    /// One SQS DLQ URL instead of every consumer's (`PINTA_<CONSUMER>_DLQ_URL`); implies `--aws`.
    #[arg(long)]
    pub dlq_url: Option<String>,
}

/// `pinta dlq list|replay --aws`: the consumers' SQS DLQs (named by the `PINTA_<CONSUMER>_DLQ_URL`
/// variables of `pinta up --aws`, or `--dlq-url`). `queue` keeps one consumer's (by consumer or queue
/// name). Replay re-publishes to `PINTA_PIPELINE_TOPIC_ARN`; the running consumers pick the events up.
pub mod dlq {
    use super::*;
    use pinta_platform::aws::config::UP_CONSUMERS;
    use pinta_platform::aws::sqs::queue_name;
    use pinta_platform::ports::DeadLetter;

    /// The DLQs to look at, as `(consumer, url)`.
    fn dlqs(env: &Env, args: &DlqAwsArgs, queue: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
        if let Some(url) = &args.dlq_url {
            return Ok(vec![(queue_name(url).to_owned(), url.clone())]);
        }
        let mut out = Vec::new();
        for (consumer, _, dlq_var) in UP_CONSUMERS {
            if let Some(url) = env.url(dlq_var)? {
                let wanted = queue
                    .is_none_or(|q| q == consumer || q == queue_name(&url) || queue_name(&url) == format!("{q}-dlq"));
                if wanted {
                    out.push((consumer.to_owned(), url));
                }
            }
        }
        if out.is_empty() {
            let vars: Vec<&str> = UP_CONSUMERS.iter().map(|(_, _, d)| *d).collect();
            match queue {
                Some(q) => bail!(
                    "no dead-letter queue configured for {q:?}: set the matching one of {} or pass --dlq-url",
                    vars.join(", ")
                ),
                None => bail!(
                    "no dead-letter queue configured: set {} (see `pinta aws bootstrap --only up`) or pass --dlq-url",
                    vars.join(", ")
                ),
            }
        }
        Ok(out)
    }

    async fn letters(
        sdk: &pinta_platform::aws::SdkConfig,
        dlqs: &[(String, String)],
    ) -> anyhow::Result<Vec<(String, DeadLetter)>> {
        let mut tasks = Vec::new();
        for (consumer, url) in dlqs {
            let store = SqsDeadLetterStore::new(sdk, url);
            let consumer = consumer.clone();
            tasks.push(tokio::spawn(async move { (consumer, store.list(None).await) }));
        }
        let mut out = Vec::new();
        for t in tasks {
            let (consumer, listed) = t.await.context("listing a dead-letter queue")?;
            let listed = listed.with_context(|| format!("listing the {consumer} dead-letter queue"))?;
            out.extend(listed.into_iter().map(|l| (consumer.clone(), l)));
        }
        out.sort_by(|a, b| (a.1.dead_lettered_at, &a.1.id).cmp(&(b.1.dead_lettered_at, &b.1.id)));
        Ok(out)
    }

    /// `pinta dlq list --aws`.
    pub async fn list(args: &DlqAwsArgs, queue: Option<&str>) -> anyhow::Result<ExitCode> {
        let env = Env::process();
        let dlqs = dlqs(&env, args, queue)?;
        let (sdk, _) = sdk().await?;
        let letters = letters(&sdk, &dlqs).await?;
        if letters.is_empty() {
            println!("no dead letters");
        }
        for (consumer, l) in letters {
            println!(
                "{}  {}  {}  {}  {}  receives={}  {}",
                l.id,
                l.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"),
                consumer,
                l.queue,
                l.code,
                l.receive_count,
                l.reason
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `pinta dlq replay --aws`.
    pub async fn replay(args: &DlqAwsArgs, ids: Vec<String>, all: bool) -> anyhow::Result<ExitCode> {
        let env = Env::process();
        let topic = env.required_arn(
            "PINTA_PIPELINE_TOPIC_ARN",
            "sns",
            "the pipeline topic ARN (replays are published there)",
        )?;
        let dlqs = dlqs(&env, args, None)?;
        let (sdk, _) = sdk().await?;
        let found = letters(&sdk, &dlqs).await?;
        let ids: Vec<String> = if all { found.iter().map(|(_, l)| l.id.clone()).collect() } else { ids };
        if ids.is_empty() {
            if all {
                println!("no dead letters");
                return Ok(ExitCode::SUCCESS);
            }
            bail!("name dead-letter ids to replay, or --all");
        }
        let publisher = SnsPublisher::new(&sdk, topic);
        let mut failed = 0;
        for id in &ids {
            let Some((consumer, _)) = found.iter().find(|(_, l)| &l.id == id) else {
                failed += 1;
                eprintln!("could not replay {id}: no such dead letter");
                continue;
            };
            let Some((_, url)) = dlqs.iter().find(|(c, _)| c == consumer) else { continue };
            let store = SqsDeadLetterStore::new(&sdk, url);
            match replay_dead_letter(&store, &publisher, id).await {
                Ok(env) => {
                    println!("replayed {id} ({consumer}): {} {}", env.event_type, env.subject.unwrap_or_default())
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("could not replay {id}: {e}");
                }
            }
        }
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}
