//! The CSV dialect of a raw file: the field delimiter, sniffed on the header line.

/// Picks the delimiter by counting `,` and `;` outside double quotes on the first non-blank line of
/// `sample` (BOM already removed). `;` wins only when it occurs more often; `,` is the default.
pub fn sniff_delimiter(sample: &[u8]) -> u8 {
    let mut commas = 0usize;
    let mut semicolons = 0usize;
    let mut in_quotes = false;
    let mut seen_content = false;
    for &b in sample {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                seen_content = true;
            }
            b'\n' | b'\r' if !in_quotes => {
                if seen_content {
                    break;
                }
            }
            b',' if !in_quotes => {
                commas += 1;
                seen_content = true;
            }
            b';' if !in_quotes => {
                semicolons += 1;
                seen_content = true;
            }
            b' ' | b'\t' => {}
            _ => seen_content = true,
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_on_the_header_line_outside_quotes() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1;2;3;4;5\n"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c\r\n1,5;2,5;3\r\n"), b';');
        assert_eq!(sniff_delimiter(b"\"a,b,c\";d;e\n"), b';');
        assert_eq!(sniff_delimiter(b"\n\n a;b;c\n"), b';');
        assert_eq!(sniff_delimiter(b""), b',');
        assert_eq!(sniff_delimiter(b"abc"), b',');
    }
}
