//! Header recognition: maps the header cells of a raw file to the six production fields, tolerating
//! case, accents, surrounding whitespace, punctuation and common variant names, in any order.

/// The six fields of a production record, in the canonical column order of the raw CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductionField {
    Date = 0,
    PaintType = 1,
    Quantity = 2,
    UnitCost = 3,
    Cost = 4,
    Operator = 5,
}

impl ProductionField {
    /// Canonical column order.
    pub const ALL: [ProductionField; 6] = [
        ProductionField::Date,
        ProductionField::PaintType,
        ProductionField::Quantity,
        ProductionField::UnitCost,
        ProductionField::Cost,
        ProductionField::Operator,
    ];

    /// Normalised header names (see [`normalise_name`]) accepted for this field.
    fn names(self) -> &'static [&'static str] {
        match self {
            ProductionField::Date => &[
                "fecha de produccion",
                "fecha produccion",
                "fecha de la produccion",
                "fecha",
                "fecha produccion dia",
                "dia",
                "date",
                "production date",
            ],
            ProductionField::PaintType => &[
                "tipo de pintura producida",
                "tipo de pintura",
                "tipo pintura",
                "tipo pintura producida",
                "pintura",
                "pintura producida",
                "tipo",
                "producto",
                "paint type",
                "paint",
            ],
            ProductionField::Quantity => &[
                "cantidad producida",
                "cantidad",
                "cantidad litros",
                "cantidad producida litros",
                "cantidad de litros",
                "litros",
                "litros producidos",
                "quantity",
                "liters",
                "litres",
            ],
            ProductionField::UnitCost => &[
                "costo por litro producido",
                "costo por litro",
                "costo litro",
                "costo x litro",
                "costo unitario",
                "precio por litro",
                "precio por litro producido",
                "precio litro",
                "precio unitario",
                "precio",
                "unit cost",
            ],
            ProductionField::Cost => &[
                "costo de la produccion",
                "costo de produccion",
                "costo produccion",
                "costo total",
                "costo total de la produccion",
                "costo",
                "total",
                "cost",
                "total cost",
            ],
            ProductionField::Operator => &["operador", "operario", "operadora", "operaria", "responsable", "operator"],
        }
    }

    /// The field a header cell names, if any.
    pub fn from_header(cell: &str) -> Option<ProductionField> {
        let name = normalise_name(cell);
        ProductionField::ALL.into_iter().find(|f| f.names().contains(&name.as_str()))
    }
}

/// Lower-case, accents removed, anything but letters and digits turned into single spaces, trimmed:
/// `"  Fecha de Producción "` → `"fecha de produccion"`, `"COSTO_POR_LITRO"` → `"costo por litro"`.
pub fn normalise_name(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut pending_space = false;
    for c in cell.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'ä' | 'â' | 'ã' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' | 'õ' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        };
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    out
}

/// Where each field is in a line, and how many cells a well-formed line has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnLayout {
    /// Index of each field's cell, by [`ProductionField`] discriminant; `None` when the file has no
    /// such column.
    pub index: [Option<usize>; 6],
    /// Cells in a well-formed line (the header's width).
    pub width: usize,
}

impl ColumnLayout {
    /// The canonical six columns, for a headerless file.
    pub fn canonical() -> ColumnLayout {
        ColumnLayout { index: [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)], width: 6 }
    }

    /// Reads a header line. The first column naming a field wins; unknown columns are ignored.
    pub fn from_header<S: AsRef<str>>(cells: &[S]) -> ColumnLayout {
        let mut index = [None; 6];
        for (i, cell) in cells.iter().enumerate() {
            if let Some(field) = ProductionField::from_header(cell.as_ref()) {
                let slot = &mut index[field as usize];
                if slot.is_none() {
                    *slot = Some(i);
                }
            }
        }
        ColumnLayout { index, width: cells.len() }
    }

    /// How many of the six fields were found.
    pub fn recognised(&self) -> usize {
        self.index.iter().filter(|i| i.is_some()).count()
    }

    /// The cell index of a field.
    pub fn position(&self, field: ProductionField) -> Option<usize> {
        self.index[field as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_accents_and_punctuation() {
        assert_eq!(normalise_name("  Fecha de Producción "), "fecha de produccion");
        assert_eq!(normalise_name("COSTO_POR_LITRO"), "costo por litro");
        assert_eq!(normalise_name("Tipo  de\u{a0}pintura"), "tipo de pintura");
        assert_eq!(normalise_name("\u{feff}Operador"), "operador");
    }

    #[test]
    fn maps_variants_in_any_order_and_ignores_unknown_columns() {
        let l = ColumnLayout::from_header(&["operario", "Litros", "notas", "PINTURA", "fecha", "Precio por litro"]);
        assert_eq!(l.position(ProductionField::Operator), Some(0));
        assert_eq!(l.position(ProductionField::Quantity), Some(1));
        assert_eq!(l.position(ProductionField::PaintType), Some(3));
        assert_eq!(l.position(ProductionField::Date), Some(4));
        assert_eq!(l.position(ProductionField::UnitCost), Some(5));
        assert_eq!(l.position(ProductionField::Cost), None);
        assert_eq!(l.recognised(), 5);
        assert_eq!(l.width, 6);
        let data = ColumnLayout::from_header(&["2025-01-07", "Esmalte", "1500", "12,5", "18750", "Ana"]);
        assert_eq!(data.recognised(), 0);
    }
}
