//! Lifecycle of long-lived services: a background loop (the gap filler, a prefetch worker, a
//! connection keeper) and the one signal that tells it to stop.
//!
//! A service is not an operation. Stopping it is not "the user cancelled": that confusion is
//! what left every async load of the Python system stuck in `RUNNING`. So the signal has its own
//! name and type, [`Shutdown`], unrelated to [`CancellationToken`](crate::cancel::CancellationToken).
//! A service that runs operations and is told to stop decides what happens to them (let them
//! finish, or cancel them with [`CancelReason::Shutdown`](crate::cancel::CancelReason::Shutdown)),
//! so their records say why they ended.
//!
//! [`spawn`] starts a service on tokio and returns its [`ServiceHandle`]; the service's future
//! receives the [`Shutdown`] and waits on it between rounds of work
//! ([`Shutdown::sleep`] is the interval wait of a loop that wakes early on a stop).
//!
//! ```
//! use std::time::Duration;
//! use ktrdr_ops::service::{self, Wake};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = service::spawn("ticker", |shutdown| async move {
//!     let mut ticks = 0u32;
//!     while shutdown.sleep(Duration::from_secs(60)).await == Wake::Elapsed {
//!         ticks += 1;
//!     }
//!     ticks
//! })?;
//! tokio::time::sleep(Duration::from_secs(150)).await;
//! assert_eq!(handle.stop().await?, 2);
//! # Ok(()) }
//! ```

mod handle;
mod shutdown;

pub use handle::{spawn, ServiceError, ServiceHandle};
pub use shutdown::{Shutdown, Wake};
