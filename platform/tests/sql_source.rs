//! The SQL source adapter against real databases: a SQLite file and the local MariaDB run the same
//! migrations and return the same rows and catalogue for the same writes.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use pinta_platform::ports::{Catalog, CatalogOperator, CatalogPaint, ProductionSource, SourceError};
use pinta_platform::sql::{NewRow, SqlSource};

fn mysql_base() -> String {
    std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A fresh, uniquely named MariaDB database; fails loudly when MariaDB is not there.
async fn fresh_mysql_db() -> String {
    sqlx::any::install_default_drivers();
    let base = mysql_base();
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql")).await.unwrap_or_else(|e| {
        panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}")
    });
    let name = format!("pinta_src_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    format!("{base}/{name}")
}

fn rows(day: NaiveDate) -> Vec<NewRow> {
    let at = |h, m| day.and_hms_opt(h, m, 0);
    let updated: NaiveDateTime = (day + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap();
    vec![
        NewRow { id: 3, day, produced_at: at(8, 15), paint_type: Some("Esmalte rojo".into()), quantity: Some(120), unit_cost: Some(120.5), cost: Some(14460.0), operator: Some("Juan Pérez".into()), updated_at: updated },
        NewRow { id: 1, day, produced_at: None, paint_type: None, quantity: None, unit_cost: None, cost: None, operator: None, updated_at: updated },
        NewRow { id: 2, day, produced_at: at(23, 59), paint_type: Some("Sellador, mate".into()), quantity: Some(-4), unit_cost: Some(70.0), cost: Some(-280.0), operator: Some("Ana Martínez".into()), updated_at: updated },
    ]
}

fn catalog() -> Catalog {
    Catalog {
        operators: vec![
            CatalogOperator { name: "Ana Martínez".into(), active: true },
            CatalogOperator { name: "Juan Pérez".into(), active: false },
        ],
        paint_types: vec![CatalogPaint { name: "Esmalte rojo".into(), price_per_liter: 120.5 }],
    }
}

async fn exercise(source: &SqlSource) -> (Vec<NaiveDate>, Option<NaiveDate>, Vec<pinta_platform::ports::SourceRow>, Catalog) {
    let d1 = NaiveDate::from_ymd_opt(2025, 2, 27).unwrap();
    let d2 = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    source.replace_catalog(&catalog()).await.unwrap();
    source.write_day(d1, &rows(d1)).await.unwrap();
    let later: Vec<NewRow> = rows(d2).into_iter().map(|r| NewRow { id: r.id + 100, ..r }).collect();
    source.write_day(d2, &later).await.unwrap();
    // Re-writing a day replaces it rather than adding to it.
    source.write_day(d2, &later).await.unwrap();
    assert_eq!(source.count_rows().await.unwrap(), 6);
    let days = source.days(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()).await.unwrap();
    let latest = source.latest_day(NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()).await.unwrap();
    let got = source.rows_for_day(d1).await.unwrap();
    (days, latest, got, source.catalog().await.unwrap())
}

#[tokio::test]
async fn sqlite_and_mariadb_behave_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlSource::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), Duration::from_secs(5)).await.unwrap();
    let mysql = SqlSource::connect(&fresh_mysql_db().await, Duration::from_secs(5)).await.unwrap();
    assert_eq!((sqlite.kind(), mysql.kind()), ("sqlite", "mysql"));
    let a = exercise(&sqlite).await;
    let b = exercise(&mysql).await;
    // What was written comes back: ordered by id, NULLs as None, text and numbers intact.
    let d1 = NaiveDate::from_ymd_opt(2025, 2, 27).unwrap();
    assert_eq!(a.0, vec![d1, NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()]);
    assert_eq!(a.1, Some(d1));
    assert_eq!(a.2.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(a.2[0].operator, None);
    assert_eq!(a.2[1].paint_type.as_deref(), Some("Sellador, mate"));
    assert_eq!(a.2[1].produced_at, d1.and_hms_opt(23, 59, 0));
    assert_eq!(a.2[2].unit_cost, Some(120.5));
    let mut expected = catalog();
    expected.operators.sort();
    assert_eq!(a.3, expected);
    assert_eq!(a, b, "SQLite and MariaDB must agree");
    mysql.close().await;
}

#[tokio::test]
async fn unreachable_and_invalid_sources_are_typed_errors() {
    match SqlSource::connect("postgres://x/y", Duration::from_secs(1)).await {
        Err(SourceError::InvalidUrl { .. }) => {}
        other => panic!("expected InvalidUrl, got {other:?}"),
    }
    // A port nothing listens on: unavailable (retryable) rather than a hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    match SqlSource::connect(&format!("mysql://root@127.0.0.1:{port}/x"), Duration::from_secs(2)).await {
        Err(e @ SourceError::Unavailable { .. }) => assert!(e.is_retryable()),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
