//! Test support shared by this crate's tests and its callers' (feature `test-util`): a provider
//! whose fetches follow a script, so a test states *which* fetch fails, hangs or panics instead
//! of writing yet another wrapper around the simulator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use ktrdr_ops::cancel::{CancelReason, CancellationToken};

use crate::provider::{DataProvider, ProviderError, ProviderInfo, SymbolInfo};
use crate::types::{BarSeries, Symbol, TimeRange, Timeframe};

/// One fetch as the script sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchCall {
    /// Start order of the fetch, from 0 (retries count as fetches).
    pub index: usize,
    /// The timeframe asked for.
    pub timeframe: Timeframe,
    /// The range asked for.
    pub range: TimeRange,
}

/// What [`Scripted`] does with a fetch.
#[derive(Debug)]
pub enum Verdict {
    /// Answer from the fetching provider.
    Answer,
    /// Fail with this error.
    Fail(ProviderError),
    /// Never answer, ignoring the token too: a broker that does not answer behind a provider
    /// that ignores the token, the worst case a caller must survive.
    Hang,
    /// Panic: a provider bug.
    Panic,
    /// Answer with these bars, whatever was asked (a provider sending bad data).
    Bars(BarSeries),
}

type Script = Box<dyn Fn(&FetchCall) -> Verdict + Send + Sync>;
type AfterAnswer = Box<dyn Fn(usize) + Send + Sync>;

/// A provider that describes, validates and finds head timestamps through `inner`, and fetches
/// as a script says: answered by `inner` (or another provider, see [`Scripted::fetch_from`]),
/// failed, hung or panicked, by the fetch's start order, timeframe and range.
///
/// ```
/// use std::sync::Arc;
/// use ktrdr_data::provider::{sim::SimProvider, ProviderError};
/// use ktrdr_data::testing::{Scripted, Verdict};
///
/// let sim = Arc::new(SimProvider::new(Default::default()).unwrap());
/// // Every second fetch fails for good.
/// let flaky = Scripted::new(sim).script(|call| match call.index % 2 {
///     0 => Verdict::Answer,
///     _ => Verdict::Fail(ProviderError::fatal("down")),
/// });
/// assert_eq!(flaky.started(), 0);
/// ```
pub struct Scripted {
    inner: Arc<dyn DataProvider>,
    fetch_from: Arc<dyn DataProvider>,
    script: Script,
    after_answer: AfterAnswer,
    started: AtomicUsize,
    answered: AtomicUsize,
    hanging: AtomicUsize,
}

impl Scripted {
    /// `inner` does everything; every fetch is answered.
    pub fn new(inner: Arc<dyn DataProvider>) -> Self {
        Scripted {
            fetch_from: inner.clone(),
            inner,
            script: Box::new(|_| Verdict::Answer),
            after_answer: Box::new(|_| {}),
            started: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            hanging: AtomicUsize::new(0),
        }
    }

    /// Decides each fetch.
    pub fn script(
        mut self,
        script: impl Fn(&FetchCall) -> Verdict + Send + Sync + 'static,
    ) -> Self {
        self.script = Box::new(script);
        self
    }

    /// Answers fetches from `provider` instead of `inner` (e.g. a host provider, so that the
    /// only requests a host sees are fetches).
    pub fn fetch_from(mut self, provider: Arc<dyn DataProvider>) -> Self {
        self.fetch_from = provider;
        self
    }

    /// Cancels `token` with [`CancelReason::User`] when the `after`-th successful answer returns.
    pub fn cancel_after(mut self, after: usize, token: &CancellationToken) -> Self {
        let token = token.clone();
        self.after_answer = Box::new(move |answered| {
            if answered == after {
                token.cancel(CancelReason::User);
            }
        });
        self
    }

    /// Fetches started so far.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Fetches hanging now.
    pub fn hanging(&self) -> usize {
        self.hanging.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl DataProvider for Scripted {
    fn describe(&self) -> ProviderInfo {
        self.inner.describe()
    }

    async fn validate_symbol(
        &self,
        symbol: &Symbol,
        token: &CancellationToken,
    ) -> Result<SymbolInfo, ProviderError> {
        self.inner.validate_symbol(symbol, token).await
    }

    async fn head_timestamp(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        token: &CancellationToken,
    ) -> Result<Option<i64>, ProviderError> {
        self.inner.head_timestamp(symbol, timeframe, token).await
    }

    async fn fetch_bars(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        range: TimeRange,
        token: &CancellationToken,
    ) -> Result<BarSeries, ProviderError> {
        let call = FetchCall {
            index: self.started.fetch_add(1, Ordering::SeqCst),
            timeframe,
            range,
        };
        match (self.script)(&call) {
            Verdict::Answer => {
                let bars = self
                    .fetch_from
                    .fetch_bars(symbol, timeframe, range, token)
                    .await?;
                (self.after_answer)(self.answered.fetch_add(1, Ordering::SeqCst) + 1);
                Ok(bars)
            }
            Verdict::Fail(error) => Err(error),
            Verdict::Hang => {
                self.hanging.fetch_add(1, Ordering::SeqCst);
                std::future::pending().await
            }
            Verdict::Panic => panic!("provider bug (scripted)"),
            Verdict::Bars(bars) => Ok(bars),
        }
    }
}
