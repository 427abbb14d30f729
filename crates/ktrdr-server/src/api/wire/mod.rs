//! The JSON shapes of `/api/v1` (`../shared/contracts/api-v1.md`): the Python backend's fields,
//! every one kept, plus ours. Shared by the handlers, the OpenAPI document and the API client.

mod envelope;
mod events;
mod operations;

pub use envelope::{Envelope, OperationList};
pub use events::{EventKind, UnknownEvent, WaitAnswer};
pub use operations::{
    OperationInfo, OperationMetadata, OperationProgress, OperationSummary, OperationType,
};
