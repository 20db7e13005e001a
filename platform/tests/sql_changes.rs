//! The SQL source's incremental-extraction query and its behaviour when the database is down, against a
//! SQLite file, the shared MariaDB and a private MariaDB server that the test stops and starts.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use pinta_platform::ports::{ProductionSource, SourceError};
use pinta_platform::sql::mariadb::PrivateMariaDb;
use pinta_platform::sql::{NewRow, SourceSettings, SqlSource};

fn mysql_base() -> String {
    std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A fresh, uniquely named database on the shared MariaDB; fails loudly when MariaDB is not there.
async fn fresh_mysql_db() -> String {
    sqlx::any::install_default_drivers();
    let base = mysql_base();
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let name = format!("pinta_chg_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    format!("{base}/{name}")
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn row(id: i64, day: NaiveDate, quantity: i64, updated: &str) -> NewRow {
    NewRow {
        id,
        day,
        produced_at: day.and_hms_opt(9, 0, 0),
        paint_type: Some("Esmalte rojo".into()),
        quantity: Some(quantity),
        unit_cost: Some(10.0),
        cost: Some(quantity as f64 * 10.0),
        operator: Some("Ana".into()),
        updated_at: at(updated),
    }
}

async fn exercise(source: &SqlSource) {
    let d1 = NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
    let d2 = NaiveDate::from_ymd_opt(2025, 5, 2).unwrap();
    let d3 = NaiveDate::from_ymd_opt(2025, 5, 3).unwrap();
    let empty = source.changes_since(None).await.unwrap();
    assert_eq!((empty.days.len(), empty.high_water), (0, None));

    source.write_day(d1, &[row(1, d1, 5, "2025-05-02 00:00:00"), row(2, d1, 6, "2025-05-02 00:00:00")]).await.unwrap();
    source.write_day(d2, &[row(3, d2, 7, "2025-05-03 00:00:00")]).await.unwrap();
    source.write_day(d3, &[row(4, d3, 8, "2025-05-04 00:00:00")]).await.unwrap();
    let all = source.changes_since(None).await.unwrap();
    assert_eq!(all.days, vec![d1, d2, d3]);
    assert_eq!(all.high_water, Some(at("2025-05-04 00:00:00")));
    let mark = all.high_water.unwrap();
    assert!(source.changes_since(Some(mark)).await.unwrap().days.is_empty());

    // A late row for day 1 and a correction of day 2's row, both made after the mark.
    source.upsert_rows(&[row(9, d1, 4, "2025-05-05 10:00:00"), row(3, d2, 70, "2025-05-05 10:00:01")]).await.unwrap();
    let changed = source.changes_since(Some(mark)).await.unwrap();
    assert_eq!(changed.days, vec![d1, d2]);
    assert_eq!(changed.high_water, Some(at("2025-05-05 10:00:01")));
    let d2_rows = source.rows_for_day(d2).await.unwrap();
    assert_eq!(d2_rows.len(), 1, "a correction updates the row, it does not add one");
    assert_eq!(d2_rows[0].quantity, Some(70));
    assert_eq!(source.rows_for_day(d1).await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2, 9]);
    // Only strictly later changes count.
    assert!(source.changes_since(changed.high_water).await.unwrap().days.is_empty());
}

#[tokio::test]
async fn changed_days_are_found_by_update_timestamp_on_sqlite_and_mariadb() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlSource::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), Duration::from_secs(5))
        .await
        .unwrap();
    exercise(&sqlite).await;
    let mysql = SqlSource::connect(&fresh_mysql_db().await, Duration::from_secs(5)).await.unwrap();
    exercise(&mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_a_prompt_retryable_error_and_recovers() {
    let mut db = tokio::task::spawn_blocking(PrivateMariaDb::start).await.unwrap().expect("private MariaDB server");
    let url = db.create_database("pinta_down").await.unwrap();
    let settings = SourceSettings { connect_timeout: Duration::from_millis(800), query_timeout: Duration::from_secs(5) };
    let day = NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();

    // Opening never touches the database: it works while the server is down.
    db = tokio::task::spawn_blocking(move || {
        db.stop();
        db
    })
    .await
    .unwrap();
    let source = SqlSource::open(&url, settings).unwrap();
    // The generous outer bound only turns a hang into a failure; the connect timeout is what ends it.
    let err = tokio::time::timeout(Duration::from_secs(60), source.rows_for_day(day))
        .await
        .expect("a stopped database must not hang the caller")
        .unwrap_err();
    assert!(matches!(err, SourceError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());

    // Back up: the same source object migrates on first use and answers.
    db = tokio::task::spawn_blocking(move || {
        db.start_again().expect("restart");
        db
    })
    .await
    .unwrap();
    source.write_day(day, &[row(1, day, 5, "2025-05-02 00:00:00")]).await.unwrap();
    assert_eq!(source.rows_for_day(day).await.unwrap().len(), 1);

    // Down again while the pool holds connections: still a retryable error, not a hang.
    db = tokio::task::spawn_blocking(move || {
        db.stop();
        db
    })
    .await
    .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(60), source.changes_since(None))
        .await
        .expect("a stopped database must not hang the caller")
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    drop(db);
}
