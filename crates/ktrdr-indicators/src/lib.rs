//! The training domain's pure functions: technical indicators computed column-wise over a
//! [`ktrdr_data::types::BarSeries`], fuzzy membership functions, and zigzag labels. Nothing here
//! does I/O or knows about operations; `ktrdr-train` composes these into features.
