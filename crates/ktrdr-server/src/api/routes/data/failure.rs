//! [`LoadFailure`]: why a load failed, as the stable code recorded in its result summary and
//! the HTTP status a synchronous load answers with.

use axum::http::StatusCode;
use ktrdr_data::manager::LoadError;

/// Why a load failed, as a stable code and the HTTP status a synchronous load answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoadFailure {
    NoSource,
    SymbolNotFound,
    UnsupportedTimeframe,
    ProviderFailed,
    InvalidWindow,
    SegmentsFailed,
    Internal,
}

impl LoadFailure {
    const ALL: [LoadFailure; 7] = [
        LoadFailure::NoSource,
        LoadFailure::SymbolNotFound,
        LoadFailure::UnsupportedTimeframe,
        LoadFailure::ProviderFailed,
        LoadFailure::InvalidWindow,
        LoadFailure::SegmentsFailed,
        LoadFailure::Internal,
    ];

    pub(super) fn of(error: &LoadError) -> Self {
        match error {
            LoadError::NoProvider { .. } => LoadFailure::NoSource,
            LoadError::SymbolNotFound { .. } => LoadFailure::SymbolNotFound,
            LoadError::UnsupportedTimeframe { .. } => LoadFailure::UnsupportedTimeframe,
            LoadError::Provider { .. } => LoadFailure::ProviderFailed,
            LoadError::InvalidRange { .. } | LoadError::NoHeadTimestamp { .. } => {
                LoadFailure::InvalidWindow
            }
            LoadError::SegmentsFailed { .. } => LoadFailure::SegmentsFailed,
            LoadError::Partial { source, .. } => Self::of(source),
            _ => LoadFailure::Internal,
        }
    }

    pub(super) fn code(self) -> &'static str {
        match self {
            LoadFailure::NoSource => "DATA-NoSource",
            LoadFailure::SymbolNotFound => "DATA-SymbolNotFound",
            LoadFailure::UnsupportedTimeframe => "DATA-UnsupportedTimeframe",
            LoadFailure::ProviderFailed => "DATA-ProviderFailed",
            LoadFailure::InvalidWindow => "DATA-InvalidWindow",
            LoadFailure::SegmentsFailed => "DATA-SegmentsFailed",
            LoadFailure::Internal => "INTERNAL-Error",
        }
    }

    pub(super) fn status(self) -> StatusCode {
        match self {
            LoadFailure::NoSource | LoadFailure::ProviderFailed => StatusCode::SERVICE_UNAVAILABLE,
            LoadFailure::SymbolNotFound => StatusCode::NOT_FOUND,
            LoadFailure::UnsupportedTimeframe => StatusCode::UNPROCESSABLE_ENTITY,
            LoadFailure::InvalidWindow => StatusCode::BAD_REQUEST,
            LoadFailure::SegmentsFailed => StatusCode::BAD_GATEWAY,
            LoadFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(super) fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| f.code() == code)
            .unwrap_or(LoadFailure::Internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::LoadMode;

    #[test]
    fn every_failure_code_reads_back() {
        for failure in LoadFailure::ALL {
            assert_eq!(LoadFailure::from_code(failure.code()), failure);
        }
        assert_eq!(LoadFailure::from_code("nonsense"), LoadFailure::Internal);
    }

    #[test]
    fn failures_map_to_the_status_a_client_can_act_on() {
        let cause = LoadError::SymbolNotFound {
            symbol: "ZZZ".parse().unwrap(),
            provider: "sim".into(),
            message: "no such symbol".into(),
        };
        assert_eq!(LoadFailure::of(&cause).status(), StatusCode::NOT_FOUND);
        let no_source = LoadError::NoProvider {
            mode: LoadMode::Tail,
        };
        assert_eq!(
            LoadFailure::of(&no_source).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let internal = LoadError::Internal("lost".into());
        assert_eq!(LoadFailure::of(&internal), LoadFailure::Internal);
    }
}
