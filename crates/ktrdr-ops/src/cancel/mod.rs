//! The one cancellation type of ktrdr.
//!
//! [`CancellationToken`] is what every operation checks, whoever cancels it: Ctrl-C in the CLI,
//! `DELETE` on the API, a deadline, a parent operation or a global shutdown. It says *why*
//! ([`CancelReason`], first reason wins), forms a tree ([`CancellationToken::child_token`]) and
//! can be awaited. [`CancellationCoordinator`] maps operation ids to their tokens.
//!
//! A service lifecycle signal (stopping a background loop) is not an operation cancel and must
//! not be modelled with this type.

mod coordinator;
mod reason;
mod signal;
mod token;

pub use coordinator::{
    CancellationCoordinator, CoordinatorStatus, DuplicateOperation, Registration,
};
pub use reason::{CancelReason, Cancelled};
pub use signal::{
    spawn_stop_handler, StopHandler, StopSignal, EXIT_HUNG_UP, EXIT_INTERRUPTED, EXIT_TERMINATED,
};
pub use token::CancellationToken;
