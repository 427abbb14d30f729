//! The training domain: strategy files, features, labelled datasets, MLP training as an
//! operation on the [`ktrdr_ops`] kernel, and model storage in the Python system's layout.
//!
//! The pipeline, each stage its own module: a strategy file ([`strategy`]) names indicators and
//! fuzzy sets; features are built per symbol from stored bars; zigzag labels mark each base bar;
//! the rows are split chronologically per symbol into a [`dataset::Dataset`]; an MLP is trained on
//! it and stored with its feature order, so prediction uses exactly the training columns.

mod backprop;
pub mod checkpoint;
pub mod dataset;
pub mod evaluate;
pub mod features;
pub mod host;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod optim;
pub mod pipeline;
pub mod predict;
pub mod progress;
pub mod render;
pub mod spec;
pub mod store;
pub mod store_read;
pub mod strategy;
pub mod train;
