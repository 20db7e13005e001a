//! `pinta backfill`: workbooks generated here with every quirk of the plant's hand-made history load to
//! the same curated output as the daily pipeline; a year balances and a re-run writes nothing; a run
//! killed mid-way resumes to the same final state as an uninterrupted one.



use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use pinta_cli::app::Embedded;
use pinta_cli::backfill::{BackfillArgs, backfill_with};
use pinta_cli::config::Config;
use pinta_cli::seed::{self, Defect, SeedParams};
use pinta_contracts::{EventType, PintaEvent, layout};
use pinta_platform::ports::EventReceiver;
use pinta_platform::sql::NewRow;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Rows of a seeded day that a history file can hold as they are (a row without a date cannot be
/// placed in a day, and a future-dated typo belongs to another day).
fn history_rows(p: &SeedParams, d: NaiveDate) -> Vec<NewRow> {
    seed::generate_day(p, d)
        .into_iter()
        .filter(|r| !matches!(r.defect, Some(Defect::MissingDate | Defect::FutureDate)))
        .map(|r| r.row)
        .collect()
}

fn excel_serial(t: NaiveDateTime) -> f64 {
    let epoch = day(1899, 12, 30).and_hms_opt(0, 0, 0).unwrap();
    (t - epoch).num_seconds() as f64 / 86_400.0
}

fn excel_dt(t: NaiveDateTime) -> ExcelDateTime {
    use chrono::{Datelike, Timelike};
    ExcelDateTime::from_ymd(t.year() as u16, t.month() as u8, t.day() as u8)
        .unwrap()
        .and_hms(t.hour() as u16, t.minute() as u8, t.second())
        .unwrap()
}

/// How a row's date is written.
#[derive(Clone, Copy)]
enum DateStyle {
    /// A date-formatted cell.
    Formatted,
    /// A bare Excel serial number (no date format).
    Serial,
    /// Text `DD/MM/YYYY HH:MM:SS`.
    Text,
}

/// Writes rows below a header whose columns are in `order` (indices into the canonical six).
fn write_rows(ws: &mut Worksheet, first_row: u32, order: &[usize; 6], rows: &[NewRow], style: DateStyle) -> u32 {
    let date_fmt = Format::new().set_num_format("dd/mm/yyyy hh:mm:ss");
    let mut r = first_row;
    for row in rows {
        for (col, field) in order.iter().enumerate() {
            let col = col as u16;
            match field {
                0 => {
                    let t = row.produced_at.unwrap();
                    match style {
                        DateStyle::Formatted => ws.write_datetime_with_format(r, col, excel_dt(t), &date_fmt).map(|_| ()),
                        DateStyle::Serial => ws.write_number(r, col, excel_serial(t)).map(|_| ()),
                        DateStyle::Text => ws.write_string(r, col, t.format("%d/%m/%Y %H:%M:%S").to_string()).map(|_| ()),
                    }
                    .unwrap();
                }
                1 => {
                    if let Some(v) = &row.paint_type {
                        ws.write_string(r, col, v).unwrap();
                    }
                }
                2 => {
                    if let Some(v) = row.quantity {
                        ws.write_number(r, col, v as f64).unwrap();
                    }
                }
                3 => {
                    if let Some(v) = row.unit_cost {
                        ws.write_number(r, col, v).unwrap();
                    }
                }
                4 => {
                    if let Some(v) = row.cost {
                        ws.write_number(r, col, v).unwrap();
                    }
                }
                _ => {
                    if let Some(v) = &row.operator {
                        ws.write_string(r, col, v).unwrap();
                    }
                }
            }
        }
        r += 1;
    }
    r
}

fn write_header(ws: &mut Worksheet, row: u32, names: &[&str]) {
    for (c, n) in names.iter().enumerate() {
        ws.write_string(row, c as u16, *n).unwrap();
    }
}

/// A `;`-delimited, decimal-comma CSV with text dates (how a spreadsheet exports in Spanish locale).
fn write_semicolon_csv(path: &Path, rows: &[NewRow]) {
    let mut text = String::from("Operador;Fecha de Producción;Cantidad producida;Tipo de pintura;Costo por litro;Costo de la producción\n");
    let num = |v: Option<f64>| v.map(|v| format!("{v}").replace('.', ",")).unwrap_or_default();
    for r in rows {
        text.push_str(&format!(
            "{};{};{};{};{};{}\n",
            r.operator.clone().unwrap_or_default(),
            r.produced_at.unwrap().format("%d/%m/%Y %H:%M:%S"),
            r.quantity.map(|q| q.to_string()).unwrap_or_default(),
            r.paint_type.clone().unwrap_or_default(),
            num(r.unit_cost),
            num(r.cost),
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn pinta() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pinta"));
    c.env_remove("PINTA_SOURCE_URL").env("RUST_LOG", "error");
    c
}

/// Runs `pinta --data-dir DIR args…`, returning (success, stdout).
fn run_pinta(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = pinta().arg("--data-dir").arg(dir).args(args).output().expect("running pinta");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        eprintln!("pinta {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.success(), stdout)
}

fn read_report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

/// sha256 of every file under the bucket folders of a data dir, by relative path.
fn bucket_snapshot(dir: &Path, prefixes: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(p) else { return };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, pinta_contracts::sha256_hex(&std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    for p in prefixes {
        walk(dir, &dir.join(p), &mut out);
    }
    // Temporary files of an interrupted write are not objects.
    out.retain(|k, _| !k.contains(".tmp"));
    out
}

const OUTPUTS: [&str; 5] = ["crudos", "produccion", "cuarentena", "staging", "catalogos"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workbook_quirks_load_to_the_same_curated_output_as_the_daily_pipeline() {
    let p = SeedParams { days: 3, until: day(2025, 3, 12), rows_per_day: 30, defect_rate: 0.15, seed: 5 };
    let days: Vec<NaiveDate> = seed::days_of(&p).collect();
    let rows: Vec<Vec<NewRow>> = days.iter().map(|d| history_rows(&p, *d)).collect();

    // The daily pipeline on the same rows.
    let daily = tempfile::tempdir().unwrap();
    {
        let app = Embedded::open(Config::new(daily.path(), None, None).unwrap()).await.unwrap();
        app.source.replace_catalog(&seed::catalog()).await.unwrap();
        for (d, r) in days.iter().zip(&rows) {
            app.source.write_day(*d, r).await.unwrap();
        }
        let shutdown = CancellationToken::new();
        let runners = app.start(&shutdown);
        for d in &days {
            app.extractor.extract_and_publish(app.publisher.as_ref(), Some(*d), &app.retry).await.unwrap();
        }
        assert!(app.wait_idle(Duration::from_secs(300)).await);
        shutdown.cancel();
        for r in runners {
            r.await.unwrap();
        }
        app.source.close().await;
    }

    // The same rows as hand-made history: one workbook, two sheets, plus a CSV holding half of a day.
    let hist = tempfile::tempdir().unwrap();
    let mut wb = Workbook::new();
    {
        let ws = wb.add_worksheet();
        ws.set_name("Marzo").unwrap();
        let title = Format::new().set_bold();
        ws.merge_range(0, 0, 0, 5, "Producción de pintura — planta norte — marzo 2025", &title).unwrap();
        ws.merge_range(1, 0, 1, 5, "Hecho a mano, no modificar", &Format::new()).unwrap();
        // Row 3 is blank; the header is on row 4, spelled differently and in another order.
        let order = [5, 2, 0, 1, 4, 3];
        write_header(ws, 3, &["OPERARIO", "Litros", "fecha", "Pintura", "Costo total", "Precio por litro"]);
        let next = write_rows(ws, 4, &order, &rows[0], DateStyle::Formatted);
        let next = write_rows(ws, next, &order, &rows[1], DateStyle::Serial);
        // The totals row at the bottom.
        ws.write_string(next, 0, "TOTAL").unwrap();
        let liters: i64 = rows[0].iter().chain(&rows[1]).filter_map(|r| r.quantity).sum();
        ws.write_number(next, 1, liters as f64).unwrap();
        ws.write_number(next, 4, 123_456.78).unwrap();
    }
    let half = rows[2].len() / 2;
    {
        let ws = wb.add_worksheet();
        ws.set_name("Texto").unwrap();
        let order = [0, 1, 2, 3, 4, 5];
        write_header(
            ws,
            0,
            &["Fecha de producción", "Tipo de pintura producida", "Cantidad producida", "Costo por litro producido", "Costo de la producción", "Operador"],
        );
        let next = write_rows(ws, 1, &order, &rows[2][..half], DateStyle::Text);
        // A date without a time, for a day of its own.
        ws.write_string(next, 0, "01/04/2025").unwrap();
        ws.write_string(next, 1, "Sellador").unwrap();
        ws.write_number(next, 2, 100.0).unwrap();
        ws.write_number(next, 3, 70.0).unwrap();
        ws.write_number(next, 4, 7000.0).unwrap();
        ws.write_string(next, 5, "Ana Martínez").unwrap();
        ws.write_string(next + 1, 1, "Totales").unwrap();
        ws.write_number(next + 1, 2, 100.0).unwrap();
    }
    wb.save(hist.path().join("2025-03_a.xlsx")).unwrap();
    write_semicolon_csv(&hist.path().join("2025-03_b.csv"), &rows[2][half..]);

    // Backfill into a fresh data dir whose source only has the catalogue.
    let bf = tempfile::tempdir().unwrap();
    let app = Embedded::open(Config::new(bf.path(), None, None).unwrap()).await.unwrap();
    app.source.replace_catalog(&seed::catalog()).await.unwrap();
    let tap = app.bus.subscribe("test-tap", &[], Duration::from_secs(60));
    let args = BackfillArgs {
        paths: vec![hist.path().to_owned()],
        replace: false,
        dry_run: false,
        report: bf.path().join("r.json"),
    };
    let report = backfill_with(&app, &args).await.unwrap();
    let report = serde_json::to_value(&report).unwrap();
    assert_eq!(report["balanced"], true, "{report:#}");

    // Same raw bytes, same curated and quarantine Parquet, day by day.
    for d in &days {
        for key in [layout::raw_key(*d), layout::curated_key(*d), layout::quarantine_key(*d)] {
            let a = std::fs::read(daily.path().join(&key)).ok();
            let b = std::fs::read(bf.path().join(&key)).ok();
            assert!(a.is_some() || key.starts_with("cuarentena"), "daily pipeline wrote no {key}");
            assert_eq!(a, b, "{key} differs between the daily pipeline and the backfill");
        }
    }
    let quarantined: u64 = report["days"].as_array().unwrap().iter().map(|d| d["rows_quarantined"].as_u64().unwrap()).sum();
    assert!(quarantined > 0, "the seeded defects reach quarantine");

    // The date-only row is its own day, at midnight.
    let extra = std::fs::read_to_string(bf.path().join(layout::raw_key(day(2025, 4, 1)))).unwrap();
    assert!(extra.contains("2025-04-01 00:00:00,Sellador,100,70,7000,Ana Martínez"), "{extra}");

    // Totals rows and the titles are recognised, left out and noted.
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let xlsx = &files[0];
    let skipped: Vec<&str> = xlsx["skipped"].as_array().unwrap().iter().map(|s| s["why"].as_str().unwrap()).collect();
    assert_eq!(skipped, vec!["totals row", "totals row"], "{xlsx:#}");
    let notes = xlsx["notes"].to_string();
    assert!(notes.contains("2 title row(s) above the header"), "{notes}");
    let expected_rows = rows[0].len() + rows[1].len() + half + 1 + 2;
    assert_eq!(xlsx["rows_read"].as_u64().unwrap() as usize, expected_rows);
    assert_eq!(files[1]["rows_read"].as_u64().unwrap() as usize, rows[2].len() - half);
    // Day 3 comes from both files.
    let d3 = report["days"].as_array().unwrap().iter().find(|d| d["day"] == days[2].to_string()).unwrap();
    assert_eq!(d3["sources"].as_array().unwrap().len(), 2);
    assert!(d3["outputs"].as_array().unwrap().len() >= 2);

    // Every published event of the run is marked as a backfill.
    let mut published = 0;
    while let Ok(batch) = tap.receive(100, Duration::from_millis(10)).await {
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let env = pinta_contracts::Envelope::from_json(&m.body).unwrap();
            match env.decode().unwrap() {
                PintaEvent::ProductionExtractedV1(e) => {
                    assert!(e.backfill && e.origin == "backfill");
                    assert_eq!(env.source, "/pinta/backfill");
                }
                PintaEvent::ProductionPublishedV1(e) => {
                    assert!(e.backfill, "published event for {} is not marked as backfill", e.production_date);
                    published += 1;
                }
                PintaEvent::RowsQuarantinedV1(e) => assert!(e.backfill),
                _ => {}
            }
            assert_ne!(env.event_type, EventType::PipelineFailedV1.as_str(), "{}", m.body);
        }
    }
    assert_eq!(published, 4, "one published event per backfilled day");
    app.source.close().await;
}

/// A year of history: one workbook per quarter, a sheet per month. Rows without a date are reported
/// as skipped.
fn write_year(dir: &Path, p: &SeedParams) -> usize {
    let mut total = 0;
    let mut books: BTreeMap<String, Workbook> = BTreeMap::new();
    let order = [0, 1, 2, 3, 4, 5];
    let mut by_month: BTreeMap<String, Vec<NewRow>> = BTreeMap::new();
    for d in seed::days_of(p) {
        let rows: Vec<NewRow> = seed::generate_day(p, d)
            .into_iter()
            .filter(|r| r.defect != Some(Defect::FutureDate))
            .map(|r| r.row)
            .collect();
        total += rows.len();
        by_month.entry(d.format("%Y-%m").to_string()).or_default().extend(rows);
    }
    for (month, rows) in by_month {
        let m: u32 = month[5..].parse().unwrap();
        let book = format!("historia_{}_T{}.xlsx", &month[..4], (m - 1) / 3 + 1);
        let wb = books.entry(book.clone()).or_default();
        let ws = wb.add_worksheet();
        ws.set_name(&month).unwrap();
        write_header(ws, 0, &["Fecha", "Tipo de pintura", "Cantidad", "Costo por litro", "Costo de producción", "Operador"]);
        let date_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        let mut r = 1;
        for row in &rows {
            if let Some(t) = row.produced_at {
                ws.write_datetime_with_format(r, 0, excel_dt(t), &date_fmt).unwrap();
            }
            write_rows_fields(ws, r, &order, row);
            r += 1;
        }
    }
    for (name, mut wb) in books {
        wb.save(dir.join(name)).unwrap();
    }
    total
}

/// The non-date cells of one row.
fn write_rows_fields(ws: &mut Worksheet, r: u32, order: &[usize; 6], row: &NewRow) {
    for (col, field) in order.iter().enumerate() {
        let col = col as u16;
        match field {
            1 => row.paint_type.as_ref().map(|v| ws.write_string(r, col, v).map(|_| ())),
            2 => row.quantity.map(|v| ws.write_number(r, col, v as f64).map(|_| ())),
            3 => row.unit_cost.map(|v| ws.write_number(r, col, v).map(|_| ())),
            4 => row.cost.map(|v| ws.write_number(r, col, v).map(|_| ())),
            5 => row.operator.as_ref().map(|v| ws.write_string(r, col, v).map(|_| ())),
            _ => None,
        }
        .transpose()
        .unwrap();
    }
}

#[test]
fn a_year_migrates_in_one_run_balances_and_a_rerun_writes_nothing() {
    let p = SeedParams { days: 365, until: day(2024, 12, 31), rows_per_day: 12, defect_rate: 0.04, seed: 9 };
    let hist = tempfile::tempdir().unwrap();
    let total = write_year(hist.path(), &p);
    let dir = tempfile::tempdir().unwrap();
    let hist_arg = hist.path().to_str().unwrap();
    assert!(run_pinta(dir.path(), &["seed", "--days", "0"]).0, "setting up the catalogue");
    let report_path = dir.path().join("report.json");
    let report_arg = report_path.to_str().unwrap();

    // A dry run reports and writes nothing.
    let (ok, out) = run_pinta(dir.path(), &["backfill", hist_arg, "--dry-run", "--report", report_arg]);
    assert!(ok, "{out}");
    let dry = read_report(&report_path);
    assert_eq!(dry["days"].as_array().unwrap().len(), 365);
    assert!(dry["days"].as_array().unwrap().iter().all(|d| d["status"] == "would write"));
    assert!(bucket_snapshot(dir.path(), &OUTPUTS).keys().all(|k| k.starts_with("catalogos/")), "a dry run wrote objects");
    assert!(bucket_snapshot(dir.path(), &["_control"]).is_empty());

    let (ok, out) = run_pinta(dir.path(), &["backfill", hist_arg, "--report", report_arg]);
    assert!(ok, "{out}");
    let report = read_report(&report_path);
    assert_eq!(report["balanced"], true);
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 365);
    assert!(days.iter().all(|d| d["status"] == "written" && d["balanced"] == true));
    let t = &report["totals"];
    assert_eq!(t["rows_read"].as_u64().unwrap() as usize, total);
    let missing_dates = seed::days_of(&p)
        .flat_map(|d| seed::generate_day(&p, d))
        .filter(|r| r.defect == Some(Defect::MissingDate))
        .count();
    assert!(missing_dates > 0);
    assert_eq!(t["rows_skipped"].as_u64().unwrap() as usize, missing_dates);
    assert_eq!(
        t["rows_read"].as_u64().unwrap(),
        t["rows_curated"].as_u64().unwrap() + t["rows_quarantined"].as_u64().unwrap() + t["rows_skipped"].as_u64().unwrap()
    );
    assert_eq!(t["in"]["liters"], t["out"]["liters"]);
    for d in days {
        let key = layout::raw_key(NaiveDate::parse_from_str(d["day"].as_str().unwrap(), "%Y-%m-%d").unwrap());
        let sha = d["outputs"].as_array().unwrap().iter().find(|o| o["key"] == key.as_str()).unwrap()["sha256"].clone();
        assert_eq!(sha.as_str().unwrap(), pinta_contracts::sha256_hex(&std::fs::read(dir.path().join(&key)).unwrap()));
    }

    // A re-run writes nothing.
    let everything = ["crudos", "produccion", "cuarentena", "staging", "catalogos", "_control", "historico"];
    let before = bucket_snapshot(dir.path(), &everything);
    let (ok, out) = run_pinta(dir.path(), &["backfill", hist_arg, "--report", report_arg]);
    assert!(ok, "{out}");
    let again = read_report(&report_path);
    assert_eq!(again["balanced"], true);
    assert!(again["days"].as_array().unwrap().iter().all(|d| d["status"] == "already backfilled"));
    assert_eq!(again["totals"]["rows_curated"], report["totals"]["rows_curated"]);
    assert_eq!(bucket_snapshot(dir.path(), &everything), before, "a re-run changed objects");
}

/// Month-per-sheet workbook for the kill test: `days` days of `rows` rows.
fn write_history(dir: &Path, days: u32, rows: u32) -> PathBuf {
    let p = SeedParams { days, until: day(2023, 6, 30), rows_per_day: rows, defect_rate: 0.03, seed: 21 };
    write_year(dir, &p);
    dir.to_owned()
}

#[test]
fn a_killed_run_resumes_to_the_state_of_an_uninterrupted_one() {
    let hist = tempfile::tempdir().unwrap();
    let hist = write_history(hist.path(), 200, 30);
    let hist_arg = hist.to_str().unwrap();

    let clean = tempfile::tempdir().unwrap();
    assert!(run_pinta(clean.path(), &["seed", "--days", "0"]).0);
    let (ok, out) = run_pinta(clean.path(), &["backfill", hist_arg, "--report", clean.path().join("r.json").to_str().unwrap()]);
    assert!(ok, "{out}");
    let expected = bucket_snapshot(clean.path(), &OUTPUTS);
    assert!(expected.keys().filter(|k| k.starts_with("produccion/") || k.starts_with("cuarentena/")).count() >= 200);

    // Kill the process once some but not all days are complete. If a run finishes before it is seen
    // part-way, try again on a fresh directory.
    let mut interrupted = None;
    for _attempt in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        assert!(run_pinta(dir.path(), &["seed", "--days", "0"]).0);
        let mut child = pinta()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["backfill", hist_arg, "--report"])
            .arg(dir.path().join("r.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let records = dir.path().join("_control/days");
        let killed = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            let n = complete_records(&records);
            if n > 0 && n < 200 {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break true;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if killed {
            interrupted = Some(dir);
            break;
        }
    }
    let dir = interrupted.expect("the backfill always finished before it could be interrupted (6 attempts)");
    let done_before = complete_records(&dir.path().join("_control/days"));
    assert!(done_before < 200);

    let report_path = dir.path().join("r2.json");
    let (ok, out) = run_pinta(dir.path(), &["backfill", hist_arg, "--report", report_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let report = read_report(&report_path);
    assert_eq!(report["balanced"], true);
    let statuses: Vec<&str> = report["days"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert!(statuses.iter().filter(|s| **s == "already backfilled").count() > 0, "nothing was kept from the first run");
    assert!(statuses.iter().all(|s| matches!(*s, "already backfilled" | "resumed" | "written")), "{statuses:?}");
    assert_eq!(bucket_snapshot(dir.path(), &OUTPUTS), expected, "the resumed run ended in another state");
}

/// Day records written so far: the store writes each through a hidden `.tmp-…` file that is then
/// renamed, and a record being written is not one yet.
fn complete_records(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| r.filter_map(Result::ok).filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count())
        .unwrap_or(0)
}

#[test]
fn existing_days_are_kept_unless_replace_and_then_the_old_version_is_kept() {
    // The daily pipeline publishes a day; history for the same day is skipped, then replaced.
    let dir = tempfile::tempdir().unwrap();
    assert!(run_pinta(dir.path(), &["seed", "--days", "1", "--until", "2024-05-02", "--rows-per-day", "10", "--defect-rate", "0"]).0);
    assert!(run_pinta(dir.path(), &["run", "--date", "2024-05-02"]).0);
    let original = std::fs::read(dir.path().join(layout::curated_key(day(2024, 5, 2)))).unwrap();

    let hist = tempfile::tempdir().unwrap();
    std::fs::write(
        hist.path().join("mayo.csv"),
        "Fecha,Pintura,Litros,Precio por litro,Costo total,Operador\n\
         02/05/2024 08:00,Sellador,100,70,7000,Ana Martínez\n\
         03/05/2024 09:30,Sellador,50,70,3500,Ana Martínez\n",
    )
    .unwrap();
    let report_path = dir.path().join("r.json");
    let (ok, out) = run_pinta(dir.path(), &["backfill", hist.path().to_str().unwrap(), "--report", report_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let r = read_report(&report_path);
    assert_eq!(r["days"][0]["status"], "skipped");
    assert!(r["days"][0]["skipped_why"].as_str().unwrap().contains("--replace"));
    assert_eq!(r["days"][1]["status"], "written");
    assert_eq!(r["totals"]["rows_skipped"], 1);
    assert_eq!(std::fs::read(dir.path().join(layout::curated_key(day(2024, 5, 2)))).unwrap(), original);

    let (ok, out) =
        run_pinta(dir.path(), &["backfill", hist.path().to_str().unwrap(), "--replace", "--report", report_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let r = read_report(&report_path);
    assert_eq!(r["days"][0]["status"], "replaced");
    assert_eq!(r["days"][0]["rows_curated"], 1);
    assert_eq!(r["days"][1]["status"], "already backfilled");
    let kept = r["days"][0]["replaced_kept_under"].as_str().unwrap().to_owned();
    let kept_curated = dir.path().join(&kept).join(layout::curated_key(day(2024, 5, 2)));
    assert_eq!(std::fs::read(kept_curated).unwrap(), original, "the old version is kept");
    assert!(dir.path().join(&kept).join(layout::raw_key(day(2024, 5, 2))).exists());
    assert_ne!(std::fs::read(dir.path().join(layout::curated_key(day(2024, 5, 2)))).unwrap(), original);
}

#[test]
fn unbalanced_or_unreadable_input_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let hist = tempfile::tempdir().unwrap();
    std::fs::write(hist.path().join("roto.xlsx"), b"this is not a workbook").unwrap();
    let report_path = dir.path().join("r.json");
    let (ok, _) = run_pinta(dir.path(), &["backfill", hist.path().to_str().unwrap(), "--report", report_path.to_str().unwrap()]);
    assert!(!ok, "an unreadable workbook must fail the run");
    let r = read_report(&report_path);
    assert_eq!(r["balanced"], false);
    assert!(r["files"][0]["error"].as_str().unwrap().contains("cannot open"));
}

/// The Python interpreter of the test environment (odfpy writes the `.ods` file).
fn python() -> String {
    match std::env::var("PINTA_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!("PINTA_PYTHON is not set: run the tests through scripts/test, which creates the Python environment (odfpy)"),
    }
}

#[test]
fn an_ods_workbook_is_read_with_date_cells_text_dates_and_totals() {
    let hist = tempfile::tempdir().unwrap();
    let ods = hist.path().join("historia.ods");
    let rows = serde_json::json!([
        [{"s": "Reporte mensual"}, null, null, null, null, null],
        [{"s": "Operador"}, {"s": "Fecha"}, {"s": "Pintura"}, {"s": "Litros"}, {"s": "Precio por litro"}, {"s": "Costo total"}],
        [{"s": "Ana Martínez"}, {"d": "2025-01-02T07:30:00"}, {"s": "Sellador"}, {"n": 100}, {"n": 70}, {"n": 7000}],
        [{"s": "Juan Pérez"}, {"s": "03/01/2025 08:15:00"}, {"s": "Esmalte rojo"}, {"n": 10}, {"n": 120.5}, null],
        [{"s": "Total"}, null, null, {"n": 110}, null, {"n": 8205}],
    ]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/write_ods.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(&ods)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("running the .ods writer");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), rows.to_string().as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success(), "the .ods writer failed (is odfpy installed? see scripts/requirements-test.txt)");

    let dir = tempfile::tempdir().unwrap();
    assert!(run_pinta(dir.path(), &["seed", "--days", "0"]).0);
    let report_path = dir.path().join("r.json");
    let (ok, out) = run_pinta(dir.path(), &["backfill", ods.to_str().unwrap(), "--report", report_path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let r = read_report(&report_path);
    assert_eq!(r["totals"]["rows_read"], 3);
    assert_eq!(r["totals"]["rows_curated"], 2);
    assert_eq!(r["files"][0]["skipped"][0]["why"], "totals row");
    assert_eq!(
        std::fs::read_to_string(dir.path().join(layout::raw_key(day(2025, 1, 2)))).unwrap(),
        "Fecha de producción,Tipo de pintura producida,Cantidad producida,Costo por litro producido,Costo de la producción,Operador\n\
         2025-01-02 07:30:00,Sellador,100,70,7000,Ana Martínez\n"
    );
    let jan3 = std::fs::read_to_string(dir.path().join(layout::raw_key(day(2025, 1, 3)))).unwrap();
    assert!(jan3.ends_with("2025-01-03 08:15:00,Esmalte rojo,10,120.5,,Juan Pérez\n"), "{jan3}");
    // The cost was computed by the transformer (10 × 120.5) and balances.
    assert_eq!(r["days"][1]["out"]["cost"], 1205.0);
    assert_eq!(r["balanced"], true);
}
