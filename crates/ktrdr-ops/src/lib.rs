//! The ktrdr operations kernel.
//!
//! Domain-agnostic building blocks that every long job in ktrdr runs on: one
//! [`cancel::CancellationToken`], one typed [`progress::ProgressState`], a learned
//! [`eta::TimeEstimator`], the [`operations`] runner with its persistent [`registry`], the
//! [`host`] client base for remote host services, the one [`retry`] schedule and the one seeded
//! [`mix`]er, the [`service`] lifecycle of long-lived loops; [`home::Home`] opens the runner on the state in `$KTRDR_HOME`. This crate knows
//! nothing of bars, symbols or brokers.

pub mod cancel;
pub mod db;
pub mod eta;
pub mod home;
pub mod host;
pub mod mix;
pub mod operations;
pub mod progress;
pub mod registry;
pub mod retry;
pub mod service;
