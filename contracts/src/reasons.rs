//! Stable codes: why a row was quarantined ([`ReasonCode`]), which stage failed ([`Stage`]) and why
//! ([`FailureCode`]). They appear in Parquet files, events, alerts and runbook names, so a code, once
//! published, is never renamed or reused.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownCode { kind: stringify!($name), code: other.to_owned() }),
                }
            }
        }
    };
}

/// A code that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {code:?}")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
}

string_enum! {
    /// Why a row went to quarantine. A row may carry several.
    ReasonCode {
        /// `Fecha de producción` is empty.
        MissingDate => "MISSING_DATE",
        /// `Tipo de pintura producida` is empty.
        MissingPaintType => "MISSING_PAINT_TYPE",
        /// `Cantidad producida` is empty.
        MissingQuantity => "MISSING_QUANTITY",
        /// `Costo por litro producido` is empty.
        MissingUnitCost => "MISSING_UNIT_COST",
        /// `Operador` is empty.
        MissingOperator => "MISSING_OPERATOR",
        /// The date cell could not be read as a date.
        UnparseableDate => "UNPARSEABLE_DATE",
        /// The quantity cell is not a whole number.
        UnparseableQuantity => "UNPARSEABLE_QUANTITY",
        /// The price-per-litre cell is not a number.
        UnparseableUnitCost => "UNPARSEABLE_UNIT_COST",
        /// The production-cost cell is not a number.
        UnparseableCost => "UNPARSEABLE_COST",
        /// The line has a different number of cells than the header.
        MalformedLine => "MALFORMED_LINE",
        /// Quantity below zero.
        NegativeQuantity => "NEGATIVE_QUANTITY",
        /// Price per litre below zero.
        NegativeUnitCost => "NEGATIVE_UNIT_COST",
        /// `Costo de la producción` differs from quantity × price beyond the tolerance.
        CostMismatch => "COST_MISMATCH",
        /// The operator is not in the catalogue.
        UnknownOperator => "UNKNOWN_OPERATOR",
        /// The paint type is not in the catalogue.
        UnknownPaintType => "UNKNOWN_PAINT_TYPE",
        /// The production date lies in the future.
        FutureDate => "FUTURE_DATE",
        /// The production date is not the day the file is for.
        DateOutsideDay => "DATE_OUTSIDE_DAY",
        /// The same record appeared earlier in the file; the first one is kept.
        DuplicateRow => "DUPLICATE_ROW",
        /// The day exceeded the quarantine threshold and was held as a whole: the row itself passed.
        DayHeld => "DAY_HELD",
    }
}

string_enum! {
    /// A stage of the pipeline.
    Stage {
        Scheduler => "scheduler",
        Extractor => "extractor",
        Transformer => "transformer",
        Validator => "validator",
        Notifier => "notifier",
        Gateway => "dashboard-gateway",
        Reconciler => "reconciler",
    }
}

string_enum! {
    /// Why a stage failed, as carried by `pipeline.failed.v1`.
    FailureCode {
        /// The source database could not be reached or queried.
        SourceUnavailable => "SOURCE_UNAVAILABLE",
        /// An object named by an event does not exist.
        ObjectNotFound => "OBJECT_NOT_FOUND",
        /// An object exists with different content than this run would write.
        ObjectConflict => "OBJECT_CONFLICT",
        /// The object store failed (I/O, network, permissions).
        StorageUnavailable => "STORAGE_UNAVAILABLE",
        /// The message is not a readable CloudEvent.
        MalformedMessage => "MALFORMED_MESSAGE",
        /// The event type or version is not one this consumer knows.
        UnknownEventType => "UNKNOWN_EVENT_TYPE",
        /// The input file could not be read as a production CSV at all.
        UnreadableInput => "UNREADABLE_INPUT",
        /// Too many rows were quarantined: the day is held, not published.
        DayHeld => "DAY_HELD",
        /// Publishing an event failed.
        PublishFailed => "PUBLISH_FAILED",
        /// The configuration is invalid.
        InvalidConfiguration => "INVALID_CONFIGURATION",
        /// Anything else; the message says what.
        Internal => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_json() {
        for code in ReasonCode::ALL {
            assert_eq!(code.as_str().parse::<ReasonCode>().unwrap(), *code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert!("NOPE".parse::<ReasonCode>().is_err());
        assert_eq!("extractor".parse::<Stage>().unwrap(), Stage::Extractor);
    }
}
