//! [`spawn`] and [`ServiceHandle`]: the owner's side of a service.

use std::any::Any;
use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Shutdown;

/// The owner's side of a running service: stop it, ask whether it still runs, collect what it
/// returned. Dropping the handle fires the service's [`Shutdown`] (and does not wait for it).
#[derive(Debug)]
pub struct ServiceHandle<T> {
    name: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<T>,
}

/// A service that could not be started or did not end normally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// [`spawn`] was called outside a tokio runtime.
    #[error("service {service} must be started from inside a tokio runtime")]
    NoRuntime {
        /// The service's name.
        service: String,
    },
    /// The service's loop panicked (a bug in the service).
    #[error("service {service} panicked: {message}")]
    Panicked {
        /// The service's name.
        service: String,
        /// The panic's message.
        message: String,
    },
    /// The service's task was dropped before it ended (its runtime shut down).
    #[error("service {service} was stopped by its runtime shutting down")]
    Aborted {
        /// The service's name.
        service: String,
    },
}

/// Spawns the service `run` on the current tokio runtime, handing it the [`Shutdown`] that
/// [`ServiceHandle::stop`] fires. `name` is what logs and errors call it.
///
/// # Errors
///
/// [`ServiceError::NoRuntime`] outside a tokio runtime.
pub fn spawn<T, F, Fut>(name: impl Into<String>, run: F) -> Result<ServiceHandle<T>, ServiceError>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let name = name.into();
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err(ServiceError::NoRuntime { service: name });
    };
    let (stop, shutdown) = Shutdown::channel();
    let task = runtime.spawn(run(shutdown));
    tracing::debug!(service = %name, "service started");
    Ok(ServiceHandle { name, stop, task })
}

impl<T> ServiceHandle<T> {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fires the service's [`Shutdown`] without waiting for it to end.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Whether a stop has been requested.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Whether the service's loop has returned (on a stop, or on its own).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Fires the service's [`Shutdown`] and waits until its loop has returned.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Panicked`] or [`ServiceError::Aborted`] when the loop did not return.
    pub async fn stop(self) -> Result<T, ServiceError> {
        self.request_stop();
        self.join().await
    }

    /// Waits until the service's loop returns, without asking it to stop.
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop).
    pub async fn join(self) -> Result<T, ServiceError> {
        let ServiceHandle { name, stop, task } = self;
        // Keep the sender alive while waiting: dropping it would be a stop.
        let ended = task.await;
        drop(stop);
        tracing::debug!(service = %name, "service ended");
        ended.map_err(|join| {
            if join.is_panic() {
                ServiceError::Panicked {
                    message: panic_message(join.into_panic()),
                    service: name,
                }
            } else {
                ServiceError::Aborted { service: name }
            }
        })
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::service::Wake;

    fn ticker(
        period: Duration,
    ) -> impl FnOnce(Shutdown) -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> {
        move |shutdown| {
            Box::pin(async move {
                let mut ticks = 0;
                while shutdown.sleep(period).await == Wake::Elapsed {
                    ticks += 1;
                }
                ticks
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stop_fires_the_shutdown_and_returns_what_the_loop_returned() {
        let handle = spawn("ticker", ticker(Duration::from_secs(10))).unwrap();
        assert_eq!(handle.name(), "ticker");
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert!(!handle.is_finished() && !handle.is_stopping());
        assert_eq!(handle.stop().await.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn request_stop_does_not_wait_and_join_collects_the_end() {
        let handle = spawn("ticker", ticker(Duration::from_secs(10))).unwrap();
        tokio::time::sleep(Duration::from_secs(15)).await;
        handle.request_stop();
        assert!(handle.is_stopping());
        assert_eq!(handle.join().await.unwrap(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_handle_stops_the_service() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let handle = spawn("watcher", |shutdown| async move {
            shutdown.requested().await;
            let _ = done_tx.send(());
        })
        .unwrap();
        drop(handle);
        done_rx.await.expect("the service saw the stop and ended");
    }

    #[tokio::test]
    async fn a_panicking_service_is_reported_by_name() {
        let handle = spawn("faulty", |_shutdown| async move {
            if true {
                panic!("the loop broke");
            }
        })
        .unwrap();
        match handle.stop().await {
            Err(ServiceError::Panicked { service, message }) => {
                assert_eq!(
                    (service.as_str(), message.as_str()),
                    ("faulty", "the loop broke")
                );
            }
            other => panic!("expected a panic report, got {other:?}"),
        }
    }

    #[test]
    fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
        let err = spawn("early", |_shutdown| async {}).unwrap_err();
        assert!(matches!(err, ServiceError::NoRuntime { ref service } if service == "early"));
        assert_eq!(
            err.to_string(),
            "service early must be started from inside a tokio runtime"
        );
    }
}
