//! The source database adapter: SQLite (the embedded default) or MySQL/MariaDB/RDS, through `sqlx`'s
//! `Any` driver so both run the same migrations and the same queries. Implements
//! [`crate::ports::ProductionSource`] for the extractor, and [`SqlSource::write_day`] /
//! [`SqlSource::replace_catalog`] for the synthetic-data seeder.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::ports::source::{Catalog, CatalogOperator, CatalogPaint, ProductionSource, SourceError, SourceRow};

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
}

fn unavailable(e: sqlx::Error) -> SourceError {
    SourceError::Unavailable { source: Box::new(e) }
}

fn query_failed(e: sqlx::Error) -> SourceError {
    match e {
        e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)) => {
            unavailable(e)
        }
        e => SourceError::Query { source: Box::new(e) },
    }
}

impl SqlSource {
    /// Connects (creating a SQLite file if needed) and runs the migrations.
    /// `connect_timeout` bounds how long a database that is down can hold the caller.
    pub async fn connect(url: &str, connect_timeout: Duration) -> Result<SqlSource, SourceError> {
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
            .acquire_timeout(connect_timeout)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        MIGRATOR.run(&pool).await.map_err(|e| SourceError::Query { source: Box::new(e) })?;
        Ok(SqlSource { pool, kind })
    }

    pub fn source_kind(&self) -> SourceKind {
        self.kind
    }

    /// Replaces the catalogue tables with `catalog`.
    pub async fn replace_catalog(&self, catalog: &Catalog) -> Result<(), SourceError> {
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
    }

    /// Replaces every record of `day` with `rows` (in one transaction), so seeding is re-runnable.
    pub async fn write_day(&self, day: NaiveDate, rows: &[NewRow]) -> Result<(), SourceError> {
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
    }

    /// Number of records (all days).
    pub async fn count_rows(&self) -> Result<i64, SourceError> {
        let row = sqlx::query("SELECT COUNT(*) FROM produccion").fetch_one(&self.pool).await.map_err(query_failed)?;
        row.try_get::<i64, _>(0).map_err(query_failed)
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
    let trimmed = text.get(..19).unwrap_or(text);
    NaiveDateTime::parse_from_str(trimmed, DATETIME_FMT)
        .or_else(|_| NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .map_err(|_| SourceError::BadValue { id, column: "fecha_produccion", value: text.to_owned() })
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
        let row = sqlx::query("SELECT CAST(MAX(dia) AS CHAR) FROM produccion WHERE dia <= ?")
            .bind(not_after.format("%Y-%m-%d").to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(query_failed)?;
        let text: Option<String> = row.try_get(0).map_err(query_failed)?;
        text.map(|t| parse_day_cell(0, &t)).transpose()
    }

    async fn days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, SourceError> {
        let rows = sqlx::query("SELECT DISTINCT CAST(dia AS CHAR) AS d FROM produccion WHERE dia >= ? AND dia <= ? ORDER BY d")
            .bind(from.format("%Y-%m-%d").to_string())
            .bind(to.format("%Y-%m-%d").to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(query_failed)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(query_failed).and_then(|t| parse_day_cell(0, &t)))
            .collect()
    }

    async fn rows_for_day(&self, day: NaiveDate) -> Result<Vec<SourceRow>, SourceError> {
        let rows = sqlx::query(
            "SELECT id, CAST(fecha_produccion AS CHAR), tipo_pintura, cantidad, costo_por_litro, costo_produccion, operador \
             FROM produccion WHERE dia = ? ORDER BY id",
        )
        .bind(day.format("%Y-%m-%d").to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_failed)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
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
    }

    async fn catalog(&self) -> Result<Catalog, SourceError> {
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
        for r in paints {
            catalog.paint_types.push(CatalogPaint {
                name: r.try_get(0).map_err(query_failed)?,
                price_per_liter: r.try_get(1).map_err(query_failed)?,
            });
        }
        Ok(catalog)
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
}
