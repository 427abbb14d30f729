//! The JSON shapes of `/api/v1` (`../shared/contracts/api-v1.md`): the Python backend's fields,
//! every one kept, plus ours. Shared by the handlers, the OpenAPI document and the API client.

mod cancel;
mod candles;
mod data;
mod envelope;
mod events;
mod gap_filler;
mod operations;
mod query;
mod training;

pub use cancel::{CancelBody, CancelResult};
pub use candles::{Candle, CandleFinding, CandleGap, Candles};
pub use data::{
    BarsData, BarsMetadata, DataInfo, DataLoadOperationResponse, DataRange, GapAnalysis,
    GapInterval, GapKindSummary, LoadAnswer, LoadBody, LoadFilters, RangeRequest, SeriesSummary,
    SymbolInfo, TimeframeInfo, TradingHours,
};
pub use envelope::{Envelope, OperationList};
pub use events::{EventKind, OperationEvent, UnknownEvent, WaitAnswer};
pub use gap_filler::{
    GapFillerCycle, GapFillerLoad, GapFillerSettings, GapFillerStatus, GapFillerTotals,
};
pub use operations::{
    OperationInfo, OperationMetadata, OperationProgress, OperationSummary, OPERATION_TYPES,
};
pub use query::OperationQuery;
pub use training::{
    ModelEntry, ModelList, PerformanceModel, PerformanceTest, PerformanceTraining, TrainingHistory,
    TrainingPerformance, TrainingStartBody, TrainingStarted,
};
