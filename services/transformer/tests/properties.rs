//! Properties: row conservation on generated inputs, and no panic on arbitrary or almost-CSV input.

mod common;

use common::*;
use pinta_transformer::{BATCH_ROWS, transform};
use proptest::prelude::*;

/// Physical lines: only `\n` ends one (a `\r` before it is part of the line ending).
fn count_lines(input: &[u8]) -> u64 {
    input.iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// A generated data record: good, or damaged in one of several ways.
fn record_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..28, 0i64..100_000, 0u32..10_000).prop_map(|(d, q, c)| format!(
            "2025-01-{d:02},Esmalte,{q},{}.{:02},,Ana",
            c / 100,
            c % 100
        )),
        Just("ayer,Látex,x,y,z,".to_owned()),
        Just("2025-01-07,Esmalte,10".to_owned()),
        Just("2025-01-07,Esmalte,10,2,20,Ana,extra,more".to_owned()),
        Just(",,,,,".to_owned()),
        Just("\"quoted, cell\",\"multi\nline\",1,2,2,\"O\"\"K\"".to_owned()),
        "[a-z0-9 ]{1,20}".prop_filter("not blank", |s| !s.trim().is_empty()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_data_record_becomes_one_row(records in proptest::collection::vec(record_strategy(), 0..200), crlf in any::<bool>(), blanks in any::<bool>()) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut input = format!("{CANONICAL_HEADER}{eol}");
        for r in &records {
            input.push_str(r);
            input.push_str(eol);
            if blanks {
                input.push_str(eol);
            }
        }
        let (stats, rows) = run(input.as_bytes());
        prop_assert_eq!(stats.rows, records.len() as u64);
        prop_assert_eq!(rows.len(), records.len());
        prop_assert_eq!(stats.blank_lines, if blanks { records.len() as u64 } else { 0 });
        // Lines are increasing and start after the header.
        prop_assert!(rows.windows(2).all(|w| w[0].line < w[1].line));
        prop_assert!(rows.iter().all(|r| r.line >= 2));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut out = Vec::new();
        if let Ok(stats) = transform(input.as_slice(), &mut out) {
            prop_assert!(stats.rows <= count_lines(&input));
            prop_assert_eq!(read_rows(&out).len() as u64, stats.rows);
            prop_assert_eq!(stats.input_bytes, input.len() as u64);
        }
    }

    #[test]
    fn almost_csv_never_panics(input in "[,;\"\r\n0-9a-zó .$/:-]{0,400}") {
        let mut out = Vec::new();
        if let Ok(stats) = transform(input.as_bytes(), &mut out) {
            prop_assert!(stats.rows <= count_lines(input.as_bytes()));
            prop_assert_eq!(read_rows(&out).len() as u64, stats.rows);
        }
    }
}

#[test]
fn large_input_streams_in_several_batches_and_conserves_rows() {
    // More than one Arrow batch and far more than the 64 KiB sniffing window.
    let n = BATCH_ROWS * 2 + 17;
    let mut input = format!("{CANONICAL_HEADER}\n");
    for i in 0..n {
        input.push_str(&format!("2025-01-07,Esmalte {i},{i},1.5,,Operador {}\n", i % 7));
    }
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.rows, n as u64);
    assert_eq!(stats.rows_with_computed_cost, n as u64);
    assert_eq!(rows.last().map(|r| r.line), Some(n as u64 + 1));
    assert_eq!(rows.last().and_then(|r| r.quantity), Some(n as i64 - 1));
}

/// An input that fails mid-way is a typed error, not a panic.
#[test]
fn read_failure_is_a_typed_error() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            let line = b"2025-01-07,Esmalte,1,1,1,Ana\n";
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line[..n]);
            Ok(n)
        }
    }
    let err = transform(Failing(3), Vec::new()).expect_err("fails");
    assert!(matches!(err, pinta_transformer::TransformError::Read { .. }), "{err:?}");
}
