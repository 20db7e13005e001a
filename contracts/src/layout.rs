//! The bucket layout — a compatibility contract with the system Pinta replaces:
//!
//! ```text
//! crudos/produccion_raw_YYYY-MM-DD.csv
//! produccion/YYYY-MM/produccion_YYYY-MM-DD.parquet
//! cuarentena/YYYY-MM/cuarentena_YYYY-MM-DD.parquet
//! staging/…                      typed intermediate between transformer and validator
//! catalogos/…                    catalogue snapshots taken by the extractor
//! _control/…                     Pinta's own bookkeeping (day records, processed-event log,
//!                                revision records, the extractor's watermark)
//! historico/reemplazado/<stamp>/… previous versions of superseded objects, under their original key
//! ```

use chrono::NaiveDate;

pub const RAW_PREFIX: &str = "crudos/";
pub const CURATED_PREFIX: &str = "produccion/";
pub const QUARANTINE_PREFIX: &str = "cuarentena/";
pub const STAGING_PREFIX: &str = "staging/";
pub const CATALOG_PREFIX: &str = "catalogos/";
pub const CONTROL_PREFIX: &str = "_control/";
/// Previous versions of objects that a newer version of a day replaced (re-extraction after the source
/// rows changed, `pinta backfill --replace`): `historico/reemplazado/<UTC stamp>/<original key>`.
pub const SUPERSEDED_PREFIX: &str = "historico/reemplazado/";

/// `crudos/produccion_raw_YYYY-MM-DD.csv`
pub fn raw_key(day: NaiveDate) -> String {
    format!("{RAW_PREFIX}produccion_raw_{}.csv", day.format("%Y-%m-%d"))
}

/// `produccion/YYYY-MM/produccion_YYYY-MM-DD.parquet`
pub fn curated_key(day: NaiveDate) -> String {
    format!("{CURATED_PREFIX}{}/produccion_{}.parquet", day.format("%Y-%m"), day.format("%Y-%m-%d"))
}

/// `cuarentena/YYYY-MM/cuarentena_YYYY-MM-DD.parquet`
pub fn quarantine_key(day: NaiveDate) -> String {
    format!("{QUARANTINE_PREFIX}{}/cuarentena_{}.parquet", day.format("%Y-%m"), day.format("%Y-%m-%d"))
}

/// `staging/transformed/YYYY-MM-DD/<raw sha256>.arrow`: content-addressed by the raw file it came from.
pub fn staging_key(day: NaiveDate, raw_sha256: &str) -> String {
    format!("{STAGING_PREFIX}transformed/{}/{raw_sha256}.arrow", day.format("%Y-%m-%d"))
}

/// `catalogos/catalogo_<sha256>.json`: content-addressed catalogue snapshot.
pub fn catalog_key(sha256: &str) -> String {
    format!("{CATALOG_PREFIX}catalogo_{sha256}.json")
}

/// `catalogos/actual.json`: the most recent catalogue snapshot (overwritten by each extraction).
pub const CURRENT_CATALOG_KEY: &str = "catalogos/actual.json";

/// `_control/days/YYYY-MM-DD.json`: written last, when a day's run is complete.
pub fn day_record_key(day: NaiveDate) -> String {
    format!("{CONTROL_PREFIX}days/{}.json", day.format("%Y-%m-%d"))
}

/// `historico/reemplazado/<stamp>/`: the folder one superseding operation keeps its copies under.
pub fn superseded_folder(stamp: &str) -> String {
    format!("{SUPERSEDED_PREFIX}{stamp}/")
}

/// `historico/reemplazado/<stamp>/<original key>`: where the previous version of `key` is kept.
pub fn superseded_key(stamp: &str, key: &str) -> String {
    format!("{}{key}", superseded_folder(stamp))
}

/// `_control/revisions/YYYY-MM-DD.json`: the revision of the day's current raw file, once it has been
/// superseded at least once.
pub fn revision_key(day: NaiveDate) -> String {
    format!("{CONTROL_PREFIX}revisions/{}.json", day.format("%Y-%m-%d"))
}

/// `_control/extractor/watermark.json`: the extractor's incremental-extraction watermark.
pub const WATERMARK_KEY: &str = "_control/extractor/watermark.json";

/// `_control/inbox/<consumer>/<digest>`: marks an event as processed by a consumer.
pub fn inbox_key(consumer: &str, digest: &str) -> String {
    format!("{CONTROL_PREFIX}inbox/{consumer}/{digest}")
}

/// The production day a raw key is for, if `key` is a raw key.
pub fn day_of_raw_key(key: &str) -> Option<NaiveDate> {
    let name = key.strip_prefix(RAW_PREFIX)?;
    let date = name.strip_prefix("produccion_raw_")?.strip_suffix(".csv")?;
    parse_day(date)
}

/// The production day a curated key is for, if `key` is a curated key with a consistent month folder.
pub fn day_of_curated_key(key: &str) -> Option<NaiveDate> {
    let rest = key.strip_prefix(CURATED_PREFIX)?;
    let (month, name) = rest.split_once('/')?;
    let date = name.strip_prefix("produccion_")?.strip_suffix(".parquet")?;
    let day = parse_day(date)?;
    (day.format("%Y-%m").to_string() == month).then_some(day)
}

/// The production day a quarantine key is for.
pub fn day_of_quarantine_key(key: &str) -> Option<NaiveDate> {
    let rest = key.strip_prefix(QUARANTINE_PREFIX)?;
    let (month, name) = rest.split_once('/')?;
    let date = name.strip_prefix("cuarentena_")?.strip_suffix(".parquet")?;
    let day = parse_day(date)?;
    (day.format("%Y-%m").to_string() == month).then_some(day)
}

/// Parses a strict `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    if text.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_legacy_layout_and_parse_back() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 7).unwrap();
        assert_eq!(raw_key(day), "crudos/produccion_raw_2025-01-07.csv");
        assert_eq!(curated_key(day), "produccion/2025-01/produccion_2025-01-07.parquet");
        assert_eq!(quarantine_key(day), "cuarentena/2025-01/cuarentena_2025-01-07.parquet");
        assert_eq!(day_of_raw_key(&raw_key(day)), Some(day));
        assert_eq!(day_of_curated_key(&curated_key(day)), Some(day));
        assert_eq!(day_of_quarantine_key(&quarantine_key(day)), Some(day));
        assert_eq!(day_of_curated_key("produccion/2025-02/produccion_2025-01-07.parquet"), None);
        assert_eq!(day_of_raw_key("crudos/otro.csv"), None);
        assert_eq!(day_of_raw_key("crudos/produccion_raw_2025-02-30.csv"), None);
        assert_eq!(
            superseded_key("20250108T101500.123Z", &raw_key(day)),
            "historico/reemplazado/20250108T101500.123Z/crudos/produccion_raw_2025-01-07.csv"
        );
        assert_eq!(revision_key(day), "_control/revisions/2025-01-07.json");
    }
}
