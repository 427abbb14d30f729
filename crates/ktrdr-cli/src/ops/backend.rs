//! [`Backend`]: where `ktrdr ops` finds operations: a server (`--server URL`,
//! `KTRDR_API_URL`) through the API client, or the registry in `$KTRDR_HOME/ktrdr.db` that
//! every process on this machine records into. Both answer in the API's wire shapes, so one
//! renderer serves both.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Context as _;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::home::Home;
use ktrdr_ops::operations::Operations;
use ktrdr_ops::registry::{OperationFilter, OperationStatus, Registry};
use ktrdr_server::api::wire::{
    OperationInfo, OperationList, OperationQuery, OperationSummary, WaitAnswer,
};
use ktrdr_server::client::{ApiClient, OperationEvents};

/// How often the local registry is read while following an operation: its owner writes
/// progress at most every 250 ms.
const LOCAL_POLL: Duration = Duration::from_millis(200);

/// The longest long poll the server allows.
const LONGEST_POLL: Duration = Duration::from_secs(300);

/// Where the operations are.
pub(crate) enum Backend {
    /// A ktrdr API server.
    Remote(ApiClient),
    /// This machine's registry (the runner, for cancels).
    Local(Operations),
}

/// What `list` asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFilter {
    pub(crate) status: Option<OperationStatus>,
    pub(crate) operation_type: Option<String>,
    pub(crate) active_only: bool,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

/// An accepted cancel.
#[derive(Debug, Clone)]
pub(crate) struct Cancelled {
    /// `cancelling` (the work is stopping) or `cancelled` (it has).
    pub(crate) status: OperationStatus,
    /// The reason that took effect, in words.
    pub(crate) reason: String,
}

impl Backend {
    /// The server at `server`, else the local registry.
    pub(crate) fn open(server: Option<&str>) -> anyhow::Result<Backend> {
        match server {
            Some(url) => Ok(Backend::Remote(ApiClient::from_env(url)?)),
            None => Ok(Backend::Local(Home::open_default()?.operations().clone())),
        }
    }

    /// Where the operations are, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Backend::Remote(client) => client.base_url(),
            Backend::Local(_) => ktrdr_ops::db::default_db_path().display().to_string(),
        }
    }

    /// One page of operations, newest first.
    pub(crate) async fn list(&self, filter: ListFilter) -> anyhow::Result<OperationList> {
        match self {
            Backend::Remote(client) => {
                let query = OperationQuery {
                    status: filter.status.map(|s| s.as_str().to_owned()),
                    operation_type: filter.operation_type,
                    limit: Some(filter.limit),
                    offset: filter.offset,
                    active_only: filter.active_only,
                };
                Ok(client.operations(&query).await?)
            }
            Backend::Local(ops) => {
                let filter = OperationFilter {
                    status: filter.status,
                    operation_type: filter.operation_type,
                    active_only: filter.active_only,
                    limit: Some(filter.limit),
                    offset: filter.offset,
                };
                let page = local(ops, move |registry| Ok(registry.list(&filter)?)).await?;
                Ok(OperationList {
                    success: true,
                    data: page.operations.iter().map(OperationSummary::from).collect(),
                    total_count: page.total_count,
                    active_count: page.active_count,
                })
            }
        }
    }

    /// The operation `id`.
    pub(crate) async fn show(&self, id: &str) -> anyhow::Result<OperationInfo> {
        match self {
            Backend::Remote(client) => Ok(client.operation(id).await?),
            Backend::Local(ops) => local_get(ops, id).await,
        }
    }

    /// Asks operation `id` to stop (`reason`: the user's words, if any).
    pub(crate) async fn cancel(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> anyhow::Result<Cancelled> {
        match self {
            Backend::Remote(client) => {
                let answer = client.cancel(id, reason).await?;
                Ok(Cancelled {
                    status: answer.status,
                    reason: answer.cancellation_reason,
                })
            }
            Backend::Local(ops) => {
                let reason = reason.map_or(CancelReason::User, CancelReason::Remote);
                let (ops, id) = (ops.clone(), id.to_owned());
                let ack = tokio::task::spawn_blocking(move || ops.cancel(&id, reason))
                    .await
                    .context("the cancel did not run")??;
                Ok(Cancelled {
                    status: ack.status,
                    reason: ack.reason.to_string(),
                })
            }
        }
    }

    /// The operation once it has ended, or as it is after `timeout`: through the server's
    /// long poll (one `GET …/wait` of at most 300 s after another), or by following the
    /// registry.
    pub(crate) async fn wait(&self, id: &str, timeout: Duration) -> anyhow::Result<WaitAnswer> {
        let deadline = Instant::now().checked_add(timeout);
        if let Backend::Remote(client) = self {
            loop {
                let left = deadline.map_or(LONGEST_POLL, |d| d - Instant::now().min(d));
                let answer = client.wait(id, left.min(LONGEST_POLL)).await?;
                if answer.terminal || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(answer);
                }
            }
        }
        let mut follow = self.follow(id).await?;
        let mut latest = None;
        loop {
            let next = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, follow.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
                None => follow.next().await,
            };
            match next {
                Some(info) => latest = Some(info?),
                None => break,
            }
        }
        let data = match latest {
            Some(info) => info,
            None => self.show(id).await?,
        };
        Ok(WaitAnswer {
            success: true,
            terminal: data.status.is_terminal(),
            data,
        })
    }

    /// The states of operation `id` as it changes, up to its end.
    pub(crate) async fn follow(&self, id: &str) -> anyhow::Result<Follow> {
        match self {
            Backend::Remote(client) => Ok(Follow::Remote(Box::new(client.events(id).await?))),
            Backend::Local(ops) => {
                let current = local_get(ops, id).await?;
                Ok(Follow::Local(Box::new(LocalFollow {
                    ops: ops.clone(),
                    id: id.to_owned(),
                    next: Some(current),
                    last: None,
                })))
            }
        }
    }
}

/// An operation's states as it changes, from the one now to the terminal one.
pub(crate) enum Follow {
    /// The server's event stream.
    Remote(Box<OperationEvents>),
    /// The registry.
    Local(Box<LocalFollow>),
}

impl Follow {
    /// The next state; `None` after the terminal one.
    pub(crate) async fn next(&mut self) -> Option<anyhow::Result<OperationInfo>> {
        match self {
            Follow::Remote(events) => {
                let event = events.next().await?;
                Some(event.map(|e| e.operation).map_err(Into::into))
            }
            Follow::Local(local) => local.next().await,
        }
    }
}

/// An operation followed in the registry, read every [`LOCAL_POLL`].
pub(crate) struct LocalFollow {
    ops: Operations,
    id: String,
    /// The state to hand out next (the current one, at first).
    next: Option<OperationInfo>,
    /// The last state handed out.
    last: Option<OperationInfo>,
}

impl LocalFollow {
    async fn next(&mut self) -> Option<anyhow::Result<OperationInfo>> {
        loop {
            if self.last.as_ref().is_some_and(|l| l.status.is_terminal()) {
                return None;
            }
            if let Some(info) = self.next.take() {
                self.last = Some(info.clone());
                return Some(Ok(info));
            }
            tokio::time::sleep(LOCAL_POLL).await;
            let info = match local_get(&self.ops, &self.id).await {
                Ok(info) => info,
                Err(error) => return Some(Err(error)),
            };
            // The duration moves with the clock alone: not a change.
            let changed = self.last.as_ref().is_none_or(|l| {
                (l.status, &l.progress, &l.result_summary)
                    != (info.status, &info.progress, &info.result_summary)
            });
            if changed {
                self.next = Some(info);
            }
        }
    }
}

/// A registry call off the runtime's threads (SQLite may wait on another process's lock).
async fn local<T: Send + 'static>(
    ops: &Operations,
    call: impl FnOnce(&dyn Registry) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let registry: Arc<dyn Registry> = Arc::clone(ops.registry());
    tokio::task::spawn_blocking(move || call(registry.as_ref()))
        .await
        .context("the registry call did not run")?
}

async fn local_get(ops: &Operations, id: &str) -> anyhow::Result<OperationInfo> {
    let owned = id.to_owned();
    let record = local(ops, move |registry| Ok(registry.get(&owned)?)).await?;
    let record = record.with_context(|| {
        format!(
            "no operation {id} in {}",
            ktrdr_ops::db::default_db_path().display()
        )
    })?;
    Ok(OperationInfo::from(&record))
}
