//! What an indicator computes: named columns as long as the input series.

/// One named output column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// E.g. `rsi_14`, `macd_signal_12_26_9` (see [`crate::Indicator::column_names`]).
    pub name: String,
    /// One value per bar of the input; NaN where undefined.
    pub values: Vec<f64>,
}

/// The columns of one indicator, main line first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndicatorOutput {
    /// In the order of [`crate::Indicator::column_names`].
    pub columns: Vec<Column>,
}

impl IndicatorOutput {
    pub(crate) fn new(names: Vec<String>, values: Vec<Vec<f64>>) -> Self {
        debug_assert_eq!(names.len(), values.len());
        IndicatorOutput {
            columns: names
                .into_iter()
                .zip(values)
                .map(|(name, values)| Column { name, values })
                .collect(),
        }
    }

    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.values.as_slice())
    }

    /// The main line (first column).
    pub fn main(&self) -> Option<&Column> {
        self.columns.first()
    }
}
