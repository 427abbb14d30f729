//! The window a load works on: the mode's defaults, the user's bounds, the head timestamp and
//! the clock, resolved into one half-open range before anything is read or fetched.

use super::LoadError;
use crate::store::DateRange;
use crate::types::LoadMode;
use crate::types::Timeframe;

/// How far back a tail load of an empty series reaches (the Python system's default).
pub(crate) const TAIL_DEFAULT_DAYS: i64 = 30;

/// A resolved window `[start, end)` in unix seconds; empty when `start >= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The start was moved forward to the provider's head timestamp.
    pub(crate) clamped_to_head: bool,
}

impl Window {
    pub(crate) fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// What the resolution works from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowInput {
    pub(crate) mode: LoadMode,
    pub(crate) timeframe: Timeframe,
    /// User bounds, inclusive.
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) now: i64,
    pub(crate) stored: Option<DateRange>,
    pub(crate) head: Option<i64>,
}

/// Resolves the window of a load.
///
/// Only complete bars are asked for: a bar whose slot ends after `now` is still forming, and
/// asking for it would make every run re-fetch it. The end is therefore capped at
/// `now - bar length + 1` (exclusive), so a slot `[s, s + len)` is in the window only if
/// `s + len <= now`.
pub(crate) fn resolve(input: WindowInput) -> Result<Window, LoadError> {
    let WindowInput {
        mode,
        timeframe,
        start,
        end,
        now,
        stored,
        head,
    } = input;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(LoadError::InvalidRange { start: s, end: e });
        }
    }
    let complete_end = now - timeframe.seconds() + 1;
    let default_start = match mode {
        LoadMode::Local => stored.map(|r| r.first),
        LoadMode::Tail => Some(stored.map_or(now - TAIL_DEFAULT_DAYS * 86_400, |r| r.last)),
        LoadMode::Backfill | LoadMode::Full => head,
    };
    let start = match start.or(default_start) {
        Some(s) => s,
        None if mode == LoadMode::Local => {
            // Nothing stored and no bounds: an empty window.
            return Ok(Window {
                start: 0,
                end: 0,
                clamped_to_head: false,
            });
        }
        None => return Err(LoadError::NoHeadTimestamp { mode }),
    };
    let default_end = match mode {
        LoadMode::Local => stored.map_or(start, |r| r.last + 1),
        LoadMode::Backfill => stored.map_or(complete_end, |r| r.first),
        LoadMode::Tail | LoadMode::Full => complete_end,
    };
    let mut end = end.map_or(default_end, |e| e.saturating_add(1));
    if mode.fetches() {
        end = end.min(complete_end);
    }
    let (start, clamped_to_head) = match head {
        Some(h) if mode.fetches() && start < h => (h, true),
        _ => (start, false),
    };
    Ok(Window {
        start,
        end,
        clamped_to_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

    fn input(mode: LoadMode) -> WindowInput {
        WindowInput {
            mode,
            timeframe: Timeframe::H1,
            start: None,
            end: None,
            now: NOW,
            stored: None,
            head: Some(NOW - 1000 * DAY),
        }
    }

    #[test]
    fn defaults_per_mode_on_an_empty_store() {
        let w = resolve(input(LoadMode::Tail)).unwrap();
        assert_eq!((w.start, w.end), (NOW - 30 * DAY, NOW - 3600 + 1));
        let w = resolve(input(LoadMode::Full)).unwrap();
        assert_eq!((w.start, w.end), (NOW - 1000 * DAY, NOW - 3599));
        let w = resolve(input(LoadMode::Backfill)).unwrap();
        assert_eq!((w.start, w.end), (NOW - 1000 * DAY, NOW - 3599));
        assert!(resolve(input(LoadMode::Local)).unwrap().is_empty());
    }

    #[test]
    fn defaults_follow_the_stored_series() {
        let stored = Some(DateRange {
            first: NOW - 100 * DAY,
            last: NOW - 10 * DAY,
        });
        let with = |mode| {
            resolve(WindowInput {
                stored,
                ..input(mode)
            })
            .unwrap()
        };
        assert_eq!(with(LoadMode::Tail).start, NOW - 10 * DAY);
        let b = with(LoadMode::Backfill);
        assert_eq!((b.start, b.end), (NOW - 1000 * DAY, NOW - 100 * DAY));
        let l = with(LoadMode::Local);
        assert_eq!((l.start, l.end), (NOW - 100 * DAY, NOW - 10 * DAY + 1));
    }

    #[test]
    fn user_bounds_win_but_the_head_and_the_clock_clamp_them() {
        let w = resolve(WindowInput {
            start: Some(NOW - 2000 * DAY),
            end: Some(NOW + 5 * DAY),
            ..input(LoadMode::Full)
        })
        .unwrap();
        assert_eq!((w.start, w.end), (NOW - 1000 * DAY, NOW - 3599));
        assert!(w.clamped_to_head);
        // Entirely before the head: an empty window, not an error.
        let w = resolve(WindowInput {
            start: Some(NOW - 3000 * DAY),
            end: Some(NOW - 2000 * DAY),
            ..input(LoadMode::Full)
        })
        .unwrap();
        assert!(w.is_empty());
        // The end is inclusive on input, exclusive after.
        let w = resolve(WindowInput {
            start: Some(NOW - 5 * DAY),
            end: Some(NOW - 4 * DAY),
            ..input(LoadMode::Tail)
        })
        .unwrap();
        assert_eq!((w.start, w.end), (NOW - 5 * DAY, NOW - 4 * DAY + 1));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = resolve(WindowInput {
            start: Some(10),
            end: Some(5),
            ..input(LoadMode::Tail)
        })
        .unwrap_err();
        assert!(
            matches!(e, LoadError::InvalidRange { start: 10, end: 5 }),
            "{e}"
        );
        let e = resolve(WindowInput {
            head: None,
            ..input(LoadMode::Backfill)
        })
        .unwrap_err();
        assert!(e.to_string().contains("give the load a start time"), "{e}");
    }
}
