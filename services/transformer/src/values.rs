//! Cell values: numbers written with decimal commas, thousands separators and currency signs; whole
//! quantities; dates and date-times in the formats the plant's files use.

use chrono::{NaiveDate, NaiveDateTime};

use crate::encoding::trim_cell;

/// How the file writes decimals: a `;`-delimited file uses the decimal comma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalStyle {
    /// `,`-delimited file: `1234.5`, `1,234.56`.
    Point,
    /// `;`-delimited file: `1234,5`, `1.234,56`.
    Comma,
}

impl DecimalStyle {
    pub fn for_delimiter(delimiter: u8) -> DecimalStyle {
        if delimiter == b';' { DecimalStyle::Comma } else { DecimalStyle::Point }
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{a0}'
}

/// Parses a number. Rules: a leading sign and `$` (with spaces) are allowed; when both `.` and `,`
/// occur, the rightmost is the decimal separator and the other groups thousands; with only one kind
/// of separator, several occurrences group thousands; a single occurrence is the decimal separator
/// when it is the file's decimal mark (`,` in a `;` file, `.` otherwise), and otherwise groups
/// thousands only when exactly three digits follow it. Thousands groups must be well formed.
pub fn parse_number(text: &str, style: DecimalStyle) -> Option<f64> {
    let s = trim_cell(text);
    plain_decimal(s, style).or_else(|| general_number(s, style))
}

/// [`parse_number`]'s rules in full, on trimmed text.
fn general_number(text: &str, style: DecimalStyle) -> Option<f64> {
    let mut s = text;
    let mut negative = false;
    let mut currency = false;
    loop {
        if !currency && let Some(rest) = s.strip_prefix('$') {
            currency = true;
            s = rest.trim_start_matches(is_space);
            continue;
        }
        if !negative && let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest.trim_start_matches(is_space);
            continue;
        }
        break;
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',') || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let dots = s.matches('.').count();
    let commas = s.matches(',').count();
    let (int_part, frac_part, thousands) = if dots > 0 && commas > 0 {
        let last_dot = s.rfind('.')?;
        let last_comma = s.rfind(',')?;
        let (decimal, thousands, count) = if last_dot > last_comma { ('.', ',', dots) } else { (',', '.', commas) };
        if count != 1 {
            return None;
        }
        let (int_part, frac_part) = s.split_once(decimal)?;
        (int_part, frac_part, Some(thousands))
    } else if dots > 0 || commas > 0 {
        let (sep, count, native) = if dots > 0 {
            ('.', dots, style == DecimalStyle::Point)
        } else {
            (',', commas, style == DecimalStyle::Comma)
        };
        if count > 1 {
            (s, "", Some(sep))
        } else {
            let (int_part, frac_part) = s.split_once(sep)?;
            if !native && !int_part.is_empty() && frac_part.len() == 3 {
                (s, "", Some(sep))
            } else {
                (int_part, frac_part, None)
            }
        }
    } else {
        (s, "", None)
    };
    let digits_of_int: String = match thousands {
        None => int_part.to_owned(),
        Some(sep) => {
            let mut groups = int_part.split(sep);
            let first = groups.next()?;
            if first.is_empty() || first.len() > 3 {
                return None;
            }
            let mut all = first.to_owned();
            for g in groups {
                if g.len() != 3 {
                    return None;
                }
                all.push_str(g);
            }
            all
        }
    };
    if !digits_of_int.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits_of_int.is_empty() && frac_part.is_empty() {
        return None;
    }
    let text = format!(
        "{}.{}",
        if digits_of_int.is_empty() { "0" } else { &digits_of_int },
        if frac_part.is_empty() { "0" } else { frac_part }
    );
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// The common case, without allocating: digits with at most one separator, which is the file's
/// decimal mark (`1500`, `12.5` in a `,` file, `12,5` in a `;` file). Anything else is `None` and
/// goes through the general rules, which give the same value for these forms.
fn plain_decimal(s: &str, style: DecimalStyle) -> Option<f64> {
    let mark = if style == DecimalStyle::Comma { b',' } else { b'.' };
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 40 {
        return None;
    }
    let mut separator = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == mark && separator.is_none() {
            separator = Some(i);
        } else if !b.is_ascii_digit() {
            return None;
        }
    }
    let value: f64 = match separator {
        None => s.parse().ok()?,
        // At least one digit besides the mark.
        Some(_) if bytes.len() == 1 => return None,
        Some(_) if mark == b'.' => s.parse().ok()?,
        Some(i) => {
            let mut buf = [0u8; 40];
            let copy = buf.get_mut(..bytes.len())?;
            copy.copy_from_slice(bytes);
            *copy.get_mut(i)? = b'.';
            std::str::from_utf8(copy).ok()?.parse().ok()?
        }
    };
    value.is_finite().then_some(value)
}

/// Largest magnitude an `f64` holds exactly as an integer (2^53).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Parses a whole number of litres: `1500`, `1.500` (in a decimal-comma file), `1500.0`. A value with
/// a fractional part is not a quantity.
pub fn parse_quantity(text: &str, style: DecimalStyle) -> Option<i64> {
    let value = parse_number(text, style)?;
    if value.fract() != 0.0 || value.abs() > MAX_EXACT {
        return None;
    }
    Some(value as i64)
}

const DATE_TIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%d/%m/%Y %H:%M:%S%.f",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M:%S%.f",
    "%d-%m-%Y %H:%M",
];

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"];

/// Parses a production date or date-time to a naive timestamp; a date alone means midnight.
/// Accepted: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]`, the same with `T`, and the day-first
/// `DD/MM/YYYY` or `DD-MM-YYYY`, optionally with `HH:MM[:SS[.fff]]`.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let s = trim_cell(text);
    iso_seconds(s).or_else(|| general_timestamp(s))
}

/// [`parse_timestamp`]'s formats in full, on trimmed text.
fn general_timestamp(s: &str) -> Option<NaiveDateTime> {
    if s.is_empty() || s.len() > 40 || !has_four_digit_year(s) {
        return None;
    }
    for f in DATE_TIME_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return d.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// The common case, without chrono's format interpreter: exactly `YYYY-MM-DD HH:MM:SS`, a valid date
/// and time. Anything else (including leap seconds) is `None` and goes through the general formats.
fn iso_seconds(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
}

/// The date part (before a space or `T`) has three numeric components, the year first or last
/// and written with exactly four digits (chrono alone would read `07/01/25` as the year 25).
fn has_four_digit_year(s: &str) -> bool {
    let date = s.split([' ', 'T']).next().unwrap_or_default();
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [a, b, c] if [a, b, c].iter().all(|p| numeric(p)) => {
            (a.len() == 4 && b.len() <= 2 && c.len() <= 2) || (c.len() == 4 && a.len() <= 2 && b.len() <= 2)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DecimalStyle::{Comma, Point};

    #[test]
    fn numbers_follow_the_separator_rules() {
        assert_eq!(parse_number("1234.5", Point), Some(1234.5));
        assert_eq!(parse_number("12,5", Comma), Some(12.5));
        assert_eq!(parse_number("1.234,56", Comma), Some(1234.56));
        assert_eq!(parse_number("1.234,56", Point), Some(1234.56));
        assert_eq!(parse_number("1,234.56", Point), Some(1234.56));
        assert_eq!(parse_number("1,234.56", Comma), Some(1234.56));
        assert_eq!(parse_number("1,5", Point), Some(1.5));
        assert_eq!(parse_number("1,500", Point), Some(1500.0));
        assert_eq!(parse_number("1,500", Comma), Some(1.5));
        assert_eq!(parse_number("1.500", Comma), Some(1500.0));
        assert_eq!(parse_number("1.500", Point), Some(1.5));
        assert_eq!(parse_number("1,234,567", Point), Some(1_234_567.0));
        assert_eq!(parse_number("$ 1.234,56", Comma), Some(1234.56));
        assert_eq!(parse_number("  $12.50 ", Point), Some(12.5));
        assert_eq!(parse_number("\u{a0}7\u{a0}", Point), Some(7.0));
        assert_eq!(parse_number("-3", Point), Some(-3.0));
        assert_eq!(parse_number("-$3", Point), Some(-3.0));
        assert_eq!(parse_number("0,75", Comma), Some(0.75));
        assert_eq!(parse_number(",5", Comma), Some(0.5));
        for bad in ["", "$", "abc", "12a", "1.2.3,4,5", "1,23,456.7", "1e5", "--1", "1.234.56", ".", "12 5", "NaN"] {
            assert_eq!(parse_number(bad, Point), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The allocation-free fast path gives exactly what the general rules give, whenever it answers.
        #[test]
        fn plain_decimals_agree_with_the_general_rules(
            int in "[0-9]{0,18}",
            frac in proptest::option::of("[0-9]{0,8}"),
            comma in proptest::bool::ANY,
        ) {
            let style = if comma { Comma } else { Point };
            let mark = if comma { "," } else { "." };
            let text = match &frac { Some(f) => format!("{int}{mark}{f}"), None => int.clone() };
            let fast = plain_decimal(&text, style);
            proptest::prop_assert_eq!(fast, general_number(&text, style), "{:?}", text);
            if int.chars().chain(frac.iter().flat_map(|f| f.chars())).next().is_some() {
                proptest::prop_assert!(fast.is_some(), "fast path declined {:?}", text);
            }
        }

        #[test]
        fn iso_timestamps_agree_with_chrono(y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61, se in 0u32..62) {
            let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02}");
            let fast = iso_seconds(&text);
            let chrono = NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f").ok();
            if fast.is_some() {
                proptest::prop_assert_eq!(fast, chrono, "{}", text);
            }
            proptest::prop_assert_eq!(parse_timestamp(&text), general_timestamp(&text), "{}", text);
        }
    }

    #[test]
    fn quantities_must_be_whole() {
        assert_eq!(parse_quantity("1500", Point), Some(1500));
        assert_eq!(parse_quantity("1.500", Comma), Some(1500));
        assert_eq!(parse_quantity("1500.0", Point), Some(1500));
        assert_eq!(parse_quantity("1500,0", Comma), Some(1500));
        assert_eq!(parse_quantity("1,500", Point), Some(1500));
        assert_eq!(parse_quantity("1500.5", Point), None);
        assert_eq!(parse_quantity("1.5", Point), None);
        assert_eq!(parse_quantity("99999999999999999999", Point), None);
    }

    #[test]
    fn dates_in_all_accepted_forms() {
        let d = |y, m, dd, h, mi, s| NaiveDate::from_ymd_opt(y, m, dd).and_then(|d| d.and_hms_opt(h, mi, s));
        assert_eq!(parse_timestamp("2025-01-07"), d(2025, 1, 7, 0, 0, 0));
        assert_eq!(parse_timestamp("2025-01-07 08:30"), d(2025, 1, 7, 8, 30, 0));
        assert_eq!(parse_timestamp("2025-01-07 08:30:15"), d(2025, 1, 7, 8, 30, 15));
        assert_eq!(parse_timestamp("2025-01-07T08:30"), d(2025, 1, 7, 8, 30, 0));
        assert_eq!(parse_timestamp("2025-01-07T08:30:15"), d(2025, 1, 7, 8, 30, 15));
        assert_eq!(parse_timestamp("07/01/2025"), d(2025, 1, 7, 0, 0, 0));
        assert_eq!(parse_timestamp("07/01/2025 23:59"), d(2025, 1, 7, 23, 59, 0));
        assert_eq!(parse_timestamp("07/01/2025 23:59:58"), d(2025, 1, 7, 23, 59, 58));
        assert_eq!(parse_timestamp("07-01-2025"), d(2025, 1, 7, 0, 0, 0));
        assert_eq!(parse_timestamp(" 2025-01-07 "), d(2025, 1, 7, 0, 0, 0));
        for bad in [
            "",
            "ayer",
            "2025-02-30",
            "32/01/2025",
            "2025/01/07x",
            "07.01.2025",
            "2025-01-07 25:00",
            "07/01/25",
            "25-01-07",
            "+2025-01-07",
            "02025-01-07",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }
}
