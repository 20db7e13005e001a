//! The source database adapter: SQLite (the embedded default) or MySQL/MariaDB/RDS, through `sqlx`'s
//! `Any` driver so both run the same migrations and the same queries. Implements
//! [`crate::ports::ProductionSource`] for the extractor, and [`SqlSource::write_day`] /
//! [`SqlSource::upsert_rows`] / [`SqlSource::replace_catalog`] for writers (the synthetic-data seeder,
//! tests, tools).
//!
//! Update timestamps: `produccion.actualizado_en` (NOT NULL, no default) is what incremental extraction
//! watches ([`crate::ports::ProductionSource::changes_since`]). Every writer must set it to the time of
//! its insert or update — SQLite and MySQL have no common trigger or `ON UPDATE` syntax, so the schema
//! cannot maintain it, and a writer that forgets it fails on the NOT NULL constraint instead of going
//! unnoticed. A row deleted from the source is not seen by the watermark.
//!
//! A database that is down never hangs a caller: opening a connection is bounded by
//! `PINTA_SOURCE_CONNECT_TIMEOUT_SECS` and each query by `PINTA_SOURCE_QUERY_TIMEOUT_SECS`
//! ([`SourceSettings`]); both surface as the retryable [`SourceError::Unavailable`]. [`SqlSource::open`]
//! does not touch the database at all (migrations run on first use), so a service can start while the
//! database is down and report the failure as a pipeline event.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};
use tokio::sync::OnceCell;

pub mod mariadb;

use crate::ports::source::{
    Catalog, CatalogOperator, CatalogPaint, ProductionSource, SourceChanges, SourceError, SourceRow,
};

/// How long the source may take before it counts as unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSettings {
    /// Bound on getting a connection from the pool, opening one included (`PINTA_SOURCE_CONNECT_TIMEOUT_SECS`,
    /// default 5 s). A refused connection is retried within this bound, then reported.
    pub connect_timeout: Duration,
    /// Bound on one query or transaction (`PINTA_SOURCE_QUERY_TIMEOUT_SECS`, default 30 s): a database
    /// that accepted the connection but stopped answering.
    pub query_timeout: Duration,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings { connect_timeout: Duration::from_secs(5), query_timeout: Duration::from_secs(30) }
    }
}

/// A source setting in the environment that is not a positive number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected a positive number of seconds (e.g. 5 or 0.5)")]
pub struct SettingsError {
    pub variable: &'static str,
    pub value: String,
}

impl SourceSettings {
    pub const CONNECT_TIMEOUT_VAR: &'static str = "PINTA_SOURCE_CONNECT_TIMEOUT_SECS";
    pub const QUERY_TIMEOUT_VAR: &'static str = "PINTA_SOURCE_QUERY_TIMEOUT_SECS";

    /// Reads the process environment (unset variables keep their defaults).
    pub fn from_env() -> Result<SourceSettings, SettingsError> {
        SourceSettings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<SourceSettings, SettingsError> {
        let mut s = SourceSettings::default();
        let secs = |variable: &'static str| -> Result<Option<Duration>, SettingsError> {
            match lookup(variable) {
                None => Ok(None),
                Some(value) => match value.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 && v < 86_400.0 => Ok(Some(Duration::from_secs_f64(v))),
                    _ => Err(SettingsError { variable, value }),
                },
            }
        };
        if let Some(d) = secs(Self::CONNECT_TIMEOUT_VAR)? {
            s.connect_timeout = d;
        }
        if let Some(d) = secs(Self::QUERY_TIMEOUT_VAR)? {
            s.query_timeout = d;
        }
        Ok(s)
    }
}

/// A query that got no answer in time.
#[derive(Debug, thiserror::Error)]
#[error("the source database did not answer within {0:?}")]
pub struct QueryTimedOut(pub Duration);

/// The migrations shared by SQLite and MySQL.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

const DATETIME_FMT: &str = "%Y-%m-%d %H:%M:%S";

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Sqlite,
    MySql,
}

/// A production record to write (seeder).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub id: i64,
    pub day: NaiveDate,
    pub produced_at: Option<NaiveDateTime>,
    pub paint_type: Option<String>,
    pub quantity: Option<i64>,
    pub unit_cost: Option<f64>,
    pub cost: Option<f64>,
    pub operator: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// The `sqlx` source adapter.
#[derive(Debug, Clone)]
pub struct SqlSource {
    pool: AnyPool,
    kind: SourceKind,
    settings: SourceSettings,
    /// Set once the migrations have run.
    migrated: Arc<OnceCell<()>>,
}

fn unavailable(e: sqlx::Error) -> SourceError {
    SourceError::Unavailable { source: Box::new(e) }
}

fn unavailable_timeout(limit: Duration) -> SourceError {
    SourceError::Unavailable { source: Box::new(QueryTimedOut(limit)) }
}

fn query_failed(e: sqlx::Error) -> SourceError {
    match e {
        e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)) => {
            unavailable(e)
        }
        e => SourceError::Query { source: Box::new(e) },
    }
}

fn migrate_failed(e: sqlx::migrate::MigrateError) -> SourceError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => query_failed(e),
        e => SourceError::Query { source: Box::new(e) },
    }
}

impl SqlSource {
    /// Connects (creating a SQLite file if needed) and runs the migrations now: fails at once with
    /// [`SourceError::Unavailable`] when the database is down. `connect_timeout` bounds how long a database
    /// that is down can hold the caller; queries get the default query timeout.
    pub async fn connect(url: &str, connect_timeout: Duration) -> Result<SqlSource, SourceError> {
        let settings = SourceSettings { connect_timeout, ..SourceSettings::default() };
        let source = SqlSource::open(url, settings)?;
        source.ready().await?;
        Ok(source)
    }

    /// Prepares a source without touching the database: the URL is checked now, the connection is opened
    /// and the migrations run on first use. For services that must start (and report failures as
    /// events) while the database is down.
    pub fn open(url: &str, settings: SourceSettings) -> Result<SqlSource, SourceError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            SourceKind::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            SourceKind::MySql
        } else {
            return Err(SourceError::InvalidUrl {
                url: redact(url),
                reason: "expected sqlite://PATH or mysql://USER:PASSWORD@HOST:PORT/DATABASE".into(),
            });
        };
        let url = if kind == SourceKind::Sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.replacen("mariadb:", "mysql:", 1)
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| SourceError::InvalidUrl { url: redact(&url), reason: e.to_string() })?;
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == SourceKind::Sqlite { 1 } else { 4 })
            .min_connections(0)
            .acquire_timeout(settings.connect_timeout)
            .connect_lazy_with(options);
        Ok(SqlSource { pool, kind, settings, migrated: Arc::new(OnceCell::new()) })
    }

    pub fn settings(&self) -> SourceSettings {
        self.settings
    }

    /// Runs the migrations once (every query waits for them).
    pub async fn ready(&self) -> Result<(), SourceError> {
        let pool = self.pool.clone();
        let timeout = self.settings.connect_timeout + self.settings.query_timeout;
        self.migrated
            .get_or_try_init(|| async move {
                match tokio::time::timeout(timeout, MIGRATOR.run(&pool)).await {
                    Ok(r) => r.map_err(migrate_failed),
                    Err(_) => Err(unavailable_timeout(timeout)),
                }
            })
            .await
            .map(|_| ())
    }

    /// Runs `work` after the migrations, bounded by the query timeout (plus the connect timeout, since
    /// `work` may have to open a connection first).
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, SourceError>>) -> Result<T, SourceError> {
        self.ready().await?;
        let limit = self.settings.connect_timeout + self.settings.query_timeout;
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(unavailable_timeout(limit)),
        }
    }

    pub fn source_kind(&self) -> SourceKind {
        self.kind
    }

    /// Replaces the catalogue tables with `catalog`.
    pub async fn replace_catalog(&self, catalog: &Catalog) -> Result<(), SourceError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(query_failed)?;
            sqlx::query("DELETE FROM operadores").execute(&mut *tx).await.map_err(query_failed)?;
            sqlx::query("DELETE FROM tipos_pintura").execute(&mut *tx).await.map_err(query_failed)?;
            for op in &catalog.operators {
                sqlx::query("INSERT INTO operadores (nombre, activo) VALUES (?, ?)")
                    .bind(op.name.clone())
                    .bind(i32::from(op.active))
                    .execute(&mut *tx)
                    .await
                    .map_err(query_failed)?;
            }
            for p in &catalog.paint_types {
                sqlx::query("INSERT INTO tipos_pintura (nombre, precio_por_litro) VALUES (?, ?)")
                    .bind(p.name.clone())
                    .bind(p.price_per_liter)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_failed)?;
            }
            tx.commit().await.map_err(query_failed)
        })
        .await
    }

    /// Replaces every record of `day` with `rows` (in one transaction), so seeding is re-runnable. Each
    /// row's `updated_at` is written as its `actualizado_en`.
    pub async fn write_day(&self, day: NaiveDate, rows: &[NewRow]) -> Result<(), SourceError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(query_failed)?;
            sqlx::query("DELETE FROM produccion WHERE dia = ?")
                .bind(day.format("%Y-%m-%d").to_string())
                .execute(&mut *tx)
                .await
                .map_err(query_failed)?;
            for chunk in rows.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
                    "INSERT INTO produccion (id, dia, fecha_produccion, tipo_pintura, cantidad, costo_por_litro, costo_produccion, operador, actualizado_en) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.day.format("%Y-%m-%d").to_string())
                        .push_bind(r.produced_at.map(|t| t.format(DATETIME_FMT).to_string()))
                        .push_bind(r.paint_type.clone())
                        .push_bind(r.quantity)
                        .push_bind(r.unit_cost)
                        .push_bind(r.cost)
                        .push_bind(r.operator.clone())
                        .push_bind(r.updated_at.format(DATETIME_FMT).to_string());
                });
                qb.build().execute(&mut *tx).await.map_err(query_failed)?;
            }
            tx.commit().await.map_err(query_failed)
        })
        .await
    }

    /// Inserts or corrects individual records by id (in one transaction), e.g. a late row or a fixed
    /// typo. The caller sets each row's `updated_at` to the time of the change: that is what incremental
    /// extraction picks up.
    pub async fn upsert_rows(&self, rows: &[NewRow]) -> Result<(), SourceError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await.map_err(query_failed)?;
            for r in rows {
                let exists = sqlx::query("SELECT COUNT(*) FROM produccion WHERE id = ?")
                    .bind(r.id)
                    .fetch_one(&mut *tx)
                    .await
                    .and_then(|row| row.try_get::<i64, _>(0))
                    .map_err(query_failed)?;
                let sql = if exists > 0 {
                    "UPDATE produccion SET dia = ?, fecha_produccion = ?, tipo_pintura = ?, cantidad = ?, costo_por_litro = ?, \
                     costo_produccion = ?, operador = ?, actualizado_en = ? WHERE id = ?"
                } else {
                    "INSERT INTO produccion (dia, fecha_produccion, tipo_pintura, cantidad, costo_por_litro, costo_produccion, \
                     operador, actualizado_en, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                };
                sqlx::query(sql)
                    .bind(r.day.format("%Y-%m-%d").to_string())
                    .bind(r.produced_at.map(|t| t.format(DATETIME_FMT).to_string()))
                    .bind(r.paint_type.clone())
                    .bind(r.quantity)
                    .bind(r.unit_cost)
                    .bind(r.cost)
                    .bind(r.operator.clone())
                    .bind(r.updated_at.format(DATETIME_FMT).to_string())
                    .bind(r.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(query_failed)?;
            }
            tx.commit().await.map_err(query_failed)
        })
        .await
    }

    /// Number of records (all days).
    pub async fn count_rows(&self) -> Result<i64, SourceError> {
        self.bounded(async {
            let row = sqlx::query("SELECT COUNT(*) FROM produccion").fetch_one(&self.pool).await.map_err(query_failed)?;
            row.try_get::<i64, _>(0).map_err(query_failed)
        })
        .await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn parse_day_cell(id: i64, text: &str) -> Result<NaiveDate, SourceError> {
    let head = text.get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(head, "%Y-%m-%d").map_err(|_| SourceError::BadValue {
        id,
        column: "dia",
        value: text.to_owned(),
    })
}

fn parse_datetime_cell(id: i64, text: &str) -> Result<NaiveDateTime, SourceError> {
    parse_datetime_in(id, "fecha_produccion", text)
}

fn parse_datetime_in(id: i64, column: &'static str, text: &str) -> Result<NaiveDateTime, SourceError> {
    let trimmed = text.get(..19).unwrap_or(text);
    NaiveDateTime::parse_from_str(trimmed, DATETIME_FMT)
        .or_else(|_| NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .map_err(|_| SourceError::BadValue { id, column, value: text.to_owned() })
}

/// Hides the password of a URL for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl ProductionSource for SqlSource {
    fn kind(&self) -> &'static str {
        match self.kind {
            SourceKind::Sqlite => "sqlite",
            SourceKind::MySql => "mysql",
        }
    }

    async fn latest_day(&self, not_after: NaiveDate) -> Result<Option<NaiveDate>, SourceError> {
        self.bounded(async {
            let row = sqlx::query("SELECT CAST(MAX(dia) AS CHAR) FROM produccion WHERE dia <= ?")
                .bind(not_after.format("%Y-%m-%d").to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(query_failed)?;
            let text: Option<String> = row.try_get(0).map_err(query_failed)?;
            text.map(|t| parse_day_cell(0, &t)).transpose()
        })
        .await
    }

    async fn days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, SourceError> {
        self.bounded(async {
            let rows =
                sqlx::query("SELECT DISTINCT CAST(dia AS CHAR) AS d FROM produccion WHERE dia >= ? AND dia <= ? ORDER BY d")
                    .bind(from.format("%Y-%m-%d").to_string())
                    .bind(to.format("%Y-%m-%d").to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(query_failed)?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).map_err(query_failed).and_then(|t| parse_day_cell(0, &t)))
                .collect()
        })
        .await
    }

    async fn rows_for_day(&self, day: NaiveDate) -> Result<Vec<SourceRow>, SourceError> {
        self.bounded(async {
            let mut rows = sqlx::query(
                "SELECT id, CAST(fecha_produccion AS CHAR), tipo_pintura, cantidad, costo_por_litro, costo_produccion, operador \
                 FROM produccion WHERE dia = ? ORDER BY id",
            )
            .bind(day.format("%Y-%m-%d").to_string())
            .fetch(&self.pool);
            // Each driver row is converted as it arrives: only the compact `SourceRow`s are kept, not
            // the driver's rows as well (on a 1M-row day that was most of the extractor's memory).
            let mut out = Vec::new();
            while let Some(r) = rows.try_next().await.map_err(query_failed)? {
                let id: i64 = r.try_get(0).map_err(query_failed)?;
                let produced: Option<String> = r.try_get(1).map_err(query_failed)?;
                out.push(SourceRow {
                    id,
                    produced_at: produced.map(|t| parse_datetime_cell(id, &t)).transpose()?,
                    paint_type: r.try_get(2).map_err(query_failed)?,
                    quantity: r.try_get(3).map_err(query_failed)?,
                    unit_cost: r.try_get(4).map_err(query_failed)?,
                    cost: r.try_get(5).map_err(query_failed)?,
                    operator: r.try_get(6).map_err(query_failed)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn changes_since(&self, after: Option<NaiveDateTime>) -> Result<SourceChanges, SourceError> {
        self.bounded(async {
            // The high-water mark is read first: a row changed while the days are listed is either listed
            // now or newer than the mark, so the next check sees it.
            let row = sqlx::query("SELECT CAST(MAX(actualizado_en) AS CHAR) FROM produccion")
                .fetch_one(&self.pool)
                .await
                .map_err(query_failed)?;
            let high: Option<String> = row.try_get(0).map_err(query_failed)?;
            let high_water = high.map(|t| parse_datetime_in(0, "actualizado_en", &t)).transpose()?;
            let rows = match after {
                Some(after) => {
                    sqlx::query(
                        "SELECT DISTINCT CAST(dia AS CHAR) AS d FROM produccion WHERE actualizado_en > ? ORDER BY d",
                    )
                    .bind(after.format(DATETIME_FMT).to_string())
                    .fetch_all(&self.pool)
                    .await
                }
                None => sqlx::query("SELECT DISTINCT CAST(dia AS CHAR) AS d FROM produccion ORDER BY d").fetch_all(&self.pool).await,
            }
            .map_err(query_failed)?;
            let days = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0).map_err(query_failed).and_then(|t| parse_day_cell(0, &t)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SourceChanges { days, high_water })
        })
        .await
    }

    async fn catalog(&self) -> Result<Catalog, SourceError> {
        self.bounded(async {
            let ops = sqlx::query("SELECT nombre, activo FROM operadores ORDER BY nombre")
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed)?;
            let paints = sqlx::query("SELECT nombre, precio_por_litro FROM tipos_pintura ORDER BY nombre")
                .fetch_all(&self.pool)
                .await
                .map_err(query_failed)?;
            let mut catalog = Catalog::default();
            for r in ops {
                let active: i32 = r.try_get(1).map_err(query_failed)?;
                catalog.operators.push(CatalogOperator { name: r.try_get(0).map_err(query_failed)?, active: active != 0 });
            }
            for p in paints {
                catalog.paint_types.push(CatalogPaint {
                    name: p.try_get(0).map_err(query_failed)?,
                    price_per_liter: p.try_get(1).map_err(query_failed)?,
                });
            }
            Ok(catalog)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("mysql://root:secret@127.0.0.1:3306/db"), "mysql://root:***@127.0.0.1:3306/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn settings_come_from_the_environment_with_defaults() {
        let none = SourceSettings::from_lookup(|_| None).unwrap();
        assert_eq!(none, SourceSettings::default());
        let set = SourceSettings::from_lookup(|k| match k {
            "PINTA_SOURCE_CONNECT_TIMEOUT_SECS" => Some("0.5".into()),
            "PINTA_SOURCE_QUERY_TIMEOUT_SECS" => Some("12".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(set.connect_timeout, Duration::from_millis(500));
        assert_eq!(set.query_timeout, Duration::from_secs(12));
        for bad in ["0", "-1", "soon", "NaN"] {
            let e = SourceSettings::from_lookup(|k| (k == "PINTA_SOURCE_QUERY_TIMEOUT_SECS").then(|| bad.to_owned())).unwrap_err();
            assert!(e.to_string().contains("PINTA_SOURCE_QUERY_TIMEOUT_SECS"), "{e}");
        }
    }
}
