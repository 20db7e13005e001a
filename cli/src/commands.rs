//! The subcommands. Each returns an exit code; errors bubble up as `anyhow` to `main`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{FixedOffset, NaiveDate};
use clap::{Args, Parser, Subcommand};
use pinta_contracts::control::DayStatus;
use pinta_contracts::{Envelope, PintaEvent};
use pinta_platform::ports::{EventReceiver, ProductionSource, replay_dead_letter};
use pinta_platform::retry::RetryPolicy;
use tokio_util::sync::CancellationToken;

use crate::app::Embedded;
use crate::config::Config;
use crate::seed::{self, SeedParams};

/// Pinta: a paint plant's daily production, from the source database to curated Parquet, alerts and
/// live dashboards.
#[derive(Debug, Parser)]
#[command(name = "pinta", version)]
pub struct Cli {
    /// Where the local bucket (crudos/, produccion/, cuarentena/, …) and Pinta's state live.
    #[arg(long, env = "PINTA_DATA_DIR", default_value = "./pinta-data", global = true)]
    pub data_dir: PathBuf,
    /// Source database: sqlite://PATH (default: a file in the data directory) or mysql://…
    #[arg(long = "source", env = "PINTA_SOURCE_URL", global = true)]
    pub source: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything: seed demo data if the source is empty, process every pending day, schedule the
    /// daily extraction, serve the gateway.
    Up(UpArgs),
    /// Fill the source database with deterministic synthetic production.
    Seed(SeedArgs),
    /// Run the pipeline once for one day and print a summary.
    Run(RunArgs),
    /// One reconciliation sweep: redo every day whose raw file has no complete run.
    Reconcile,
    /// Inspect and replay dead letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Load historical Excel/ODS/CSV files into the curated layer, with a reconciliation report.
    Backfill(crate::backfill::BackfillArgs),
    /// Review quarantined rows and their reasons.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// AWS: bootstrap development resources, dead letters in SQS.
    #[command(subcommand)]
    Aws(crate::aws::AwsCommand),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Gateway port.
    #[arg(long, env = "PINTA_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Gateway bind address.
    #[arg(long, env = "PINTA_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Append a new production day on this interval (e.g. 30s), for demos.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub demo_every: Option<Duration>,
    /// Do not seed demo data into an empty source.
    #[arg(long)]
    pub no_seed: bool,
    /// UTC offset of the plant for the 00:00 schedule.
    #[arg(long, env = "PINTA_SCHEDULE_UTC_OFFSET", default_value = "-06:00")]
    pub utc_offset: String,
    /// Run against AWS (S3, SNS, SQS; `AWS_ENDPOINT_URL` for an emulator) instead of the embedded
    /// adapters; also selected by `PINTA_MODE=aws`. Variables: `pinta aws bootstrap --only up`.
    #[arg(long)]
    pub aws: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Last day to seed (default: today).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    #[arg(long, default_value_t = 40)]
    pub rows_per_day: u32,
    /// Share of rows with an injected defect (0–1).
    #[arg(long, default_value_t = 0.02)]
    pub defect_rate: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The production day (default: the latest one in the source).
    #[arg(long)]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Days with quarantined rows, with counts per reason.
    List,
    /// The quarantined rows of one day: line, reasons, detail and original values; and its releases.
    Show { date: NaiveDate },
    /// Re-validate quarantined rows of a day against the current rules and catalogue (e.g. after a
    /// catalogue fix): rows that now pass move to curated and the day is republished as a new revision.
    Release {
        date: NaiveDate,
        /// Lines to re-validate (as listed by `show`), comma-separated.
        #[arg(long, value_delimiter = ',', required_unless_present = "all", conflicts_with = "all")]
        rows: Vec<u64>,
        /// Every quarantined row of the day.
        #[arg(long)]
        all: bool,
        /// Who releases (recorded with the release).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters.
    List {
        /// Only this consumer's.
        #[arg(long)]
        queue: Option<String>,
        #[command(flatten)]
        aws: crate::aws::DlqAwsArgs,
    },
    /// Re-publish dead letters into the pipeline and process them.
    Replay {
        /// Entry ids (see `pinta dlq list`).
        ids: Vec<String>,
        /// Every entry.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        aws: crate::aws::DlqAwsArgs,
    },
}

/// Demo defaults used by `pinta up` when the source is empty.
pub fn demo_params(until: NaiveDate) -> SeedParams {
    SeedParams { days: 365, until, rows_per_day: 40, defect_rate: 0.02, seed: 42 }
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let offset = match &cli.command {
        Command::Up(a) => Some(a.utc_offset.clone()),
        _ => None,
    };
    let config = Config::new(&cli.data_dir, cli.source.as_deref(), offset.as_deref())?;
    let source_given = cli.source.is_some();
    let aws = match &cli.command {
        Command::Up(a) => crate::aws::selected(a.aws)?,
        Command::Dlq(DlqCommand::List { aws: a, .. } | DlqCommand::Replay { aws: a, .. }) => {
            crate::aws::selected(a.aws || a.dlq_url.is_some())?
        }
        _ => false,
    };
    match cli.command {
        Command::Up(args) if aws => crate::aws_up::run(config, source_given, args).await,
        Command::Dlq(DlqCommand::List { queue, aws: a }) if aws => crate::aws::dlq::list(&a, queue.as_deref()).await,
        Command::Dlq(DlqCommand::Replay { ids, all, aws: a }) if aws => crate::aws::dlq::replay(&a, ids, all).await,
        Command::Seed(args) => seed_cmd(config, args).await,
        Command::Run(args) => run_cmd(config, args).await,
        Command::Reconcile => reconcile_cmd(config).await,
        Command::Dlq(cmd) => dlq_cmd(config, cmd).await,
        Command::Up(args) => up_cmd(config, args).await,
        Command::Backfill(args) => crate::backfill::run(config, args).await,
        Command::Aws(cmd) => crate::aws::run(cmd).await,
        Command::Quarantine(cmd) => quarantine_cmd(config, cmd).await,
    }
}

async fn seed_cmd(config: Config, args: SeedArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.defect_rate) {
        bail!("--defect-rate must be between 0 and 1, got {}", args.defect_rate);
    }
    let source = pinta_platform::sql::SqlSource::connect(&config.source_url, Duration::from_secs(10)).await?;
    let until = args.until.unwrap_or_else(|| chrono::Local::now().date_naive());
    let params = SeedParams { days: args.days, until, rows_per_day: args.rows_per_day, defect_rate: args.defect_rate, seed: args.seed };
    let summary = seed::seed(&source, &params).await?;
    println!(
        "seeded {} days ({} to {}): {} rows, {} with injected defects",
        summary.days,
        seed::days_of(&params).next().map(|d| d.to_string()).unwrap_or_default(),
        until,
        summary.rows,
        summary.defects
    );
    source.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Failures announced for `day` on the watch queue (drained).
async fn drain_watch(app: &Embedded) -> Vec<Envelope> {
    let mut out = Vec::new();
    while let Ok(batch) = app.watch.receive(100, Duration::from_millis(10)).await {
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let _ = app.watch.ack(&m).await;
            if let Ok(env) = Envelope::from_json(&m.body) {
                out.push(env);
            }
        }
    }
    out
}

async fn run_cmd(config: Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let app = Embedded::open(config).await?;
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    // A source that cannot answer is not an error here: the extraction below retries, then announces
    // pipeline.failed.v1 (alerted by the notifier) and the run exits non-zero.
    if let Some(day) = args.date
        && app.source.days(day, day).await.is_ok_and(|days| days.is_empty())
    {
        bail!("the source has no production records for {day}");
    }
    let extraction = match app.extractor.extract_and_publish(app.publisher.as_ref(), args.date, &app.retry).await {
        Ok(Some(e)) => e,
        Ok(None) => bail!("the source has no production day yet"),
        Err(e) => {
            let day = args.date.map(|d| d.to_string()).unwrap_or_else(|| "latest day".into());
            eprintln!("{day}: extraction failed: {}", pinta_platform::runner::error_chain(&e));
            app.wait_idle(Duration::from_secs(60)).await;
            shutdown.cancel();
            for r in runners {
                let _ = r.await;
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let day = extraction.day;
    app.wait_idle(Duration::from_secs(600)).await;
    // Then the incremental pass: other extracted days whose source rows changed get a new revision.
    match app.extractor.refresh_changed(app.publisher.as_ref(), &app.retry).await {
        Ok(r) if !r.republished.is_empty() => {
            println!("re-published {} changed day(s) as a new revision", r.republished.len());
            app.wait_idle(Duration::from_secs(600)).await;
        }
        Ok(_) => {}
        Err(e) => eprintln!("checking for changed days failed: {}", pinta_platform::runner::error_chain(&e)),
    }
    shutdown.cancel();
    for r in runners {
        let _ = r.await;
    }
    let failures: Vec<_> = drain_watch(&app)
        .await
        .into_iter()
        .filter_map(|e| match e.decode() {
            Ok(PintaEvent::PipelineFailedV1(f)) if f.production_date == Some(day) => Some(f),
            _ => None,
        })
        .collect();
    match app.day_record(day).await? {
        Some(record) if record.raw.sha256 == extraction.raw.sha256 => {
            let status = match record.status {
                DayStatus::Published => "published",
                DayStatus::Held => "held (quarantine threshold exceeded)",
            };
            let revision = if record.revision > 1 { format!(" (revision {})", record.revision) } else { String::new() };
            println!(
                "{day}: {} rows read, {} curated, {} quarantined — {status}{revision}",
                record.rows_in, record.rows_curated, record.rows_quarantined
            );
            Ok(if record.status == DayStatus::Published { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        _ => {
            let why = failures.first().map(|f| format!("{} at {}: {}", f.code, f.stage, f.message));
            println!("{day}: {} rows read — failed: {}", extraction.rows, why.unwrap_or_else(|| "the day did not complete".into()));
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn reconcile_cmd(config: Config) -> anyhow::Result<ExitCode> {
    let app = Embedded::open(config).await?;
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let report = app.reconciler.sweep(app.publisher.as_ref(), Duration::ZERO).await?;
    app.wait_idle(Duration::from_secs(3600)).await;
    shutdown.cancel();
    for r in runners {
        let _ = r.await;
    }
    let mut incomplete = Vec::new();
    for day in &report.reemitted {
        if app.day_record(*day).await?.is_none() {
            incomplete.push(day.to_string());
        }
    }
    println!(
        "reconcile: {} raw files, {} complete, {} redone{}",
        report.raw_files,
        report.complete,
        report.reemitted.len(),
        if incomplete.is_empty() { String::new() } else { format!(", still incomplete: {}", incomplete.join(" ")) }
    );
    Ok(if incomplete.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn quarantine_cmd(config: Config, cmd: QuarantineCommand) -> anyhow::Result<ExitCode> {
    let store = pinta_platform::embedded::LocalObjectStore::new(&config.data_dir);
    match cmd {
        QuarantineCommand::List => {
            let days = crate::quarantine::list(&store).await?;
            if days.is_empty() {
                println!("no quarantined rows");
            }
            for d in days {
                let reasons: Vec<String> = d.reasons.iter().map(|(r, n)| format!("{r}={n}")).collect();
                println!("{}  {:>5} rows  {:<10}  {}", d.day, d.rows, d.status, reasons.join(" "));
            }
        }
        QuarantineCommand::Show { date } => {
            print!("{}", crate::quarantine::show_text(&store, date).await?);
        }
        QuarantineCommand::Release { date, rows, all, by } => {
            return crate::quarantine::release_cmd(config, date, rows, all, by).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dlq_cmd(config: Config, cmd: DlqCommand) -> anyhow::Result<ExitCode> {
    let app = Embedded::open(config).await?;
    match cmd {
        DlqCommand::List { queue, .. } => {
            let letters = app.dead_letters.list(queue.as_deref()).await?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                println!("{}  {}  {}  {}  receives={}  {}", l.id, l.dead_lettered_at.format("%Y-%m-%d %H:%M:%S"), l.queue, l.code, l.receive_count, l.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay { ids, all, .. } => {
            let ids: Vec<String> = if all { app.dead_letters.list(None).await?.into_iter().map(|l| l.id).collect() } else { ids };
            if ids.is_empty() {
                bail!("name dead-letter ids to replay, or --all");
            }
            let shutdown = CancellationToken::new();
            let runners = app.start(&shutdown);
            let mut failed = 0;
            for id in &ids {
                match replay_dead_letter(app.dead_letters.as_ref(), app.publisher.as_ref(), id).await {
                    Ok(env) => println!("replayed {id}: {} {}", env.event_type, env.subject.unwrap_or_default()),
                    Err(e) => {
                        failed += 1;
                        eprintln!("could not replay {id}: {e}");
                    }
                }
            }
            app.wait_idle(Duration::from_secs(600)).await;
            shutdown.cancel();
            for r in runners {
                let _ = r.await;
            }
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// Local calendar date of the plant.
fn plant_today(app: &Embedded, offset: FixedOffset) -> NaiveDate {
    use pinta_platform::ports::Clock;
    app.clock.now().with_timezone(&offset).date_naive()
}

/// Extracts every source day without a raw file, oldest first, then re-publishes days whose source
/// rows changed since they were extracted (as a new revision); the number of days sent. Used by
/// `pinta up` and `pinta up --aws`, at start-up and at 00:00.
pub(crate) async fn catch_up(
    extractor: &pinta_extractor::Extractor,
    publisher: &dyn pinta_platform::ports::EventPublisher,
    today: NaiveDate,
    retry: &RetryPolicy,
) -> anyhow::Result<usize> {
    use pinta_platform::runner::error_chain;
    let from = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or(today);
    let pending = extractor.pending_days(from, today).await?;
    let n = pending.len();
    for day in pending {
        if let Err(e) = extractor.extract_and_publish(publisher, Some(day), retry).await {
            eprintln!("pinta:   {day}: extraction failed: {}", error_chain(&e));
        }
    }
    match extractor.refresh_changed(publisher, retry).await {
        Ok(r) => {
            for (day, revision) in &r.republished {
                println!("pinta: {day} changed in the source: re-published as revision {revision}");
            }
            Ok(n + r.republished.len())
        }
        Err(e) => {
            eprintln!("pinta:   checking for changed days failed: {}", error_chain(&e));
            Ok(n)
        }
    }
}

async fn up_cmd(config: Config, args: UpArgs) -> anyhow::Result<ExitCode> {
    let offset = config.schedule_offset;
    // Checked before anything else: a non-loopback bind without users refuses to start.
    let gateway_config = pinta_dashboard_gateway::GatewayConfig::from_env(args.bind)?;
    println!("pinta: data directory {}", config.data_dir.display());
    let app = Arc::new(Embedded::open(config).await?);
    let today = plant_today(&app, offset);
    if app.source.count_rows().await? == 0 && !args.no_seed {
        // Complete days only: today's production is extracted at the next midnight.
        let until = today - chrono::Duration::days(1);
        let params = demo_params(until);
        print!("pinta: the source is empty; seeding a year of demo production (365 days to {until}) … ");
        let s = seed::seed(&app.source, &params).await?;
        println!("{} rows", s.rows);
    }
    let shutdown = CancellationToken::new();
    let mut tasks = app.start(&shutdown);

    // The gateway.
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the gateway to {addr}"))?;
    let state = pinta_dashboard_gateway::GatewayState::new(app.store.clone(), gateway_config);
    tasks.extend(
        pinta_dashboard_gateway::start(listener, state, app.gateway_events.clone(), shutdown.clone())
            .await
            .context("PINTA_OIDC_JWKS_URL (or PINTA_OIDC_ISSUER): loading the provider's signing keys")?,
    );
    println!("pinta: dashboards on http://{addr}/ (gerencial) and http://{addr}/operativo (API: /api/openapi.json)");
    println!("pinta: alerts go to {} unless PINTA_SMTP_HOST is set", app.config.outbox_dir().display());

    // Progress and live event lines.
    let live = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    {
        let (app, live, published, failed, token) = (app.clone(), live.clone(), published.clone(), failed.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = token.cancelled() => break,
                    b = app.watch.receive(50, Duration::from_millis(500)) => b,
                };
                for m in batch.unwrap_or_default() {
                    let _ = app.watch.ack(&m).await;
                    let Ok(event) = Envelope::from_json(&m.body).and_then(|e| e.decode()) else { continue };
                    let line = match event {
                        PintaEvent::ProductionPublishedV1(p) => {
                            published.fetch_add(1, Ordering::Relaxed);
                            format!("published {}: {} rows curated, {} quarantined, {} L", p.production_date, p.rows_curated, p.rows_quarantined, p.kpis.liters)
                        }
                        PintaEvent::PipelineFailedV1(f) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            format!("FAILED {} at {}: {} — {}", f.production_date.map(|d| d.to_string()).unwrap_or_default(), f.stage, f.code, f.message)
                        }
                        _ => continue,
                    };
                    if live.load(Ordering::Relaxed) {
                        println!("pinta: {line}");
                    }
                }
            }
        }));
    }

    // Heal what a previous run left unfinished, then catch up on days never extracted.
    let report = app.reconciler.sweep(app.publisher.as_ref(), Duration::ZERO).await?;
    if !report.reemitted.is_empty() {
        println!("pinta: resuming {} unfinished day(s) from a previous run", report.reemitted.len());
    }
    let pending = catch_up(&app.extractor, app.publisher.as_ref(), today, &app.retry).await?;
    let total = report.reemitted.len() + pending;
    if total > 0 {
        println!("pinta: processing {total} day(s) …");
        loop {
            if app.wait_idle(Duration::from_secs(2)).await {
                break;
            }
            println!("pinta:   {} published, {} failed, {} messages in flight", published.load(Ordering::Relaxed), failed.load(Ordering::Relaxed), app.backlog());
        }
    }
    println!(
        "pinta: up to date ({} published, {} failed this run). Daily extraction at 00:00 UTC{offset}. Ctrl-C stops.",
        published.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    live.store(true, Ordering::Relaxed);

    let mut digest_every = tokio::time::interval(Duration::from_secs(300));
    let mut reconcile_every = tokio::time::interval(Duration::from_secs(600));
    reconcile_every.tick().await;
    let mut demo = args.demo_every.map(tokio::time::interval);
    if let Some(d) = demo.as_mut() {
        d.tick().await;
    }
    loop {
        let next_midnight = until_next_midnight(&app, offset);
        tokio::select! {
            _ = stop_signal() => break,
            _ = tokio::time::sleep(next_midnight) => {
                let today = plant_today(&app, offset);
                match catch_up(&app.extractor, app.publisher.as_ref(), today, &app.retry).await {
                    Ok(n) => println!("pinta: daily extraction: {n} new day(s)"),
                    Err(e) => eprintln!("pinta: daily extraction failed: {e:#}"),
                }
            }
            _ = digest_every.tick() => {
                if let Err(e) = app.notifier.send_due_digest().await {
                    eprintln!("pinta: alert digest failed: {e}");
                }
            }
            _ = reconcile_every.tick() => {
                if let Err(e) = app.reconciler.sweep(app.publisher.as_ref(), Duration::from_secs(300)).await {
                    eprintln!("pinta: reconciliation failed: {e:#}");
                }
            }
            _ = async { match demo.as_mut() { Some(d) => { d.tick().await; } None => std::future::pending::<()>().await } } => {
                // The plant's calendar moves one day on; the day that just ended is complete.
                app.clock.advance_one_day();
                let day = plant_today(&app, offset) - chrono::Duration::days(1);
                let rows = seed::generate_day(&demo_params(day), day).into_iter().map(|r| r.row).collect::<Vec<_>>();
                match app.source.write_day(day, &rows).await {
                    Ok(()) => {
                        println!("pinta: demo: new production day {day} ({} rows)", rows.len());
                        if let Err(e) = app.extractor.extract_and_publish(app.publisher.as_ref(), Some(day), &app.retry).await {
                            eprintln!("pinta: demo extraction failed: {e}");
                        }
                    }
                    Err(e) => eprintln!("pinta: demo: could not write {day}: {e}"),
                }
            }
        }
    }
    println!("pinta: stopping …");
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    app.source.close().await;
    println!("pinta: stopped");
    Ok(ExitCode::SUCCESS)
}

fn until_next_midnight(app: &Embedded, offset: FixedOffset) -> Duration {
    use pinta_platform::ports::Clock;
    let now = app.clock.now().with_timezone(&offset);
    let next = (now.date_naive() + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    let next = next.and_local_timezone(offset).single().map(|t| t.signed_duration_since(now));
    next.and_then(|d| d.to_std().ok()).unwrap_or(Duration::from_secs(3600))
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
