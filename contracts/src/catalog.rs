//! The catalogue snapshot the extractor takes and the validator checks rows against
//! (`catalogos/catalogo_<sha256>.json`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct CatalogOperator {
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CatalogPaint {
    pub name: String,
    pub price_per_liter: f64,
}

/// Operators and paint types known to the plant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Catalog {
    pub operators: Vec<CatalogOperator>,
    pub paint_types: Vec<CatalogPaint>,
}

impl Catalog {
    /// Canonical JSON bytes (stable order), so the same catalogue always has the same checksum.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted.operators.sort();
        sorted.paint_types.sort_by(|a, b| a.name.cmp(&b.name));
        serde_json::to_vec_pretty(&sorted).unwrap_or_default()
    }

    pub fn has_operator(&self, name: &str) -> bool {
        self.operators.iter().any(|o| o.name == name)
    }

    pub fn has_paint_type(&self, name: &str) -> bool {
        self.paint_types.iter().any(|p| p.name == name)
    }
}
