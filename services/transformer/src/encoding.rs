//! Text encoding of a raw file: detection (UTF-8 or Windows-1252) from the first bytes, and per-field
//! decoding with a Windows-1252 fallback for fields that are not valid UTF-8.

use std::borrow::Cow;

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The encodings a raw file may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Windows1252,
}

impl TextEncoding {
    /// The label reported in `production.transformed.v1`.
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }

    /// Detects the encoding from the first bytes of a file (the transformer looks at 64 KiB): a BOM or
    /// valid UTF-8 — allowing a multi-byte sequence cut off at the end of the sample — means UTF-8;
    /// anything else is taken as Windows-1252 (every byte sequence decodes in it).
    pub fn detect(sample: &[u8]) -> TextEncoding {
        if sample.starts_with(UTF8_BOM) {
            return TextEncoding::Utf8;
        }
        match std::str::from_utf8(sample) {
            Ok(_) => TextEncoding::Utf8,
            // `error_len() == None`: the input ended in the middle of a valid sequence.
            Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
            Err(_) => TextEncoding::Windows1252,
        }
    }

    /// Decodes one field. In a UTF-8 file a field that is not valid UTF-8 is decoded as Windows-1252,
    /// so a single mis-encoded cell does not turn into replacement characters.
    pub fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            TextEncoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
            },
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
        }
    }
}

/// Trims whitespace around a cell, including no-break spaces and a stray BOM character.
pub fn trim_cell(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_utf8_bom_and_windows_1252() {
        assert_eq!(TextEncoding::detect(b"Fecha,Operador\n"), TextEncoding::Utf8);
        assert_eq!(TextEncoding::detect("producción".as_bytes()), TextEncoding::Utf8);
        assert_eq!(TextEncoding::detect(b"\xEF\xBB\xBFa,b"), TextEncoding::Utf8);
        assert_eq!(TextEncoding::detect(b"producci\xF3n"), TextEncoding::Windows1252);
        // A two-byte sequence cut in half by the end of the sample is still UTF-8.
        assert_eq!(TextEncoding::detect(b"producci\xC3"), TextEncoding::Utf8);
        assert_eq!(TextEncoding::detect(b""), TextEncoding::Utf8);
    }

    #[test]
    fn decodes_with_fallback_and_trims() {
        assert_eq!(TextEncoding::Utf8.decode("Muñoz".as_bytes()), "Muñoz");
        assert_eq!(TextEncoding::Utf8.decode(b"Mu\xF1oz"), "Muñoz");
        assert_eq!(TextEncoding::Windows1252.decode(b"Mu\xF1oz"), "Muñoz");
        assert_eq!(trim_cell("\u{a0} Ana \t"), "Ana");
        assert_eq!(trim_cell("\u{feff}Fecha"), "Fecha");
    }
}
