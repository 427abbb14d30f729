//! Turning a progress state into one line of text.

use std::fmt::Write as _;

use super::{Counter, ProgressPhase, ProgressState};

/// Renders a [`ProgressState`] into its `message`.
///
/// The message must be a pure function of the state it is given: never of an earlier message,
/// of a clock, or of anything the renderer remembers. (The Python renderer rebuilt each message
/// from the previous one and kept a start time across operations, so messages went stale and
/// ETAs were measured from the wrong start.) The handle calls it lazily, when someone reads the
/// progress, with `state.message` empty and `state.eta` already estimated.
///
/// ```
/// use std::sync::Arc;
/// use ktrdr_ops::progress::{ProgressHandle, ProgressRenderer, ProgressState, StepPlan};
///
/// struct Percent;
/// impl ProgressRenderer for Percent {
///     fn render(&self, state: &ProgressState) -> String {
///         format!("{:.0}% {}", state.percent, state.step_name)
///     }
/// }
///
/// let progress = ProgressHandle::new("op-1", StepPlan::single("Work"));
/// progress.set_renderer(Arc::new(Percent));
/// progress.set_sub_progress(1, 4);
/// assert_eq!(progress.snapshot().message, "25% Work");
/// ```
pub trait ProgressRenderer: Send + Sync {
    /// The message for `state`.
    fn render(&self, state: &ProgressState) -> String;
}

/// Appends ` · ETA 2m (1m 40s–2m 30s)`: the estimate with its range, or nothing when there is
/// none or the range is under a second (it says nothing a person can use then). The one
/// wording of a ranged ETA for the domains' renderers.
pub fn push_eta_range(out: &mut String, eta: Option<crate::eta::Eta>) {
    if let Some(eta) = eta.filter(|e| e.high_secs >= 1.0) {
        let _ = write!(
            out,
            " · ETA {} ({}–{})",
            format_duration(eta.remaining_secs),
            format_duration(eta.low_secs),
            format_duration(eta.high_secs)
        );
    }
}

/// The renderer used when none is set: `[2/5] Fetch segments: detail (3/10) · 1500 items · ETA 2m`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRenderer;

impl ProgressRenderer for DefaultRenderer {
    fn render(&self, s: &ProgressState) -> String {
        let mut out = String::with_capacity(64);
        // `write!` into a String cannot fail.
        match s.phase {
            ProgressPhase::Completed => {
                let _ = write!(out, "Completed in {}", format_duration(s.elapsed_secs));
                push_items(&mut out, s.items);
                return out;
            }
            ProgressPhase::Failed | ProgressPhase::Cancelled => {
                let (verb, unsaid) = if s.phase == ProgressPhase::Failed {
                    ("Failed", "unknown error")
                } else {
                    ("Cancelled", "cancelled")
                };
                let _ = write!(
                    out,
                    "{verb} at step {}/{} {}: {}",
                    s.step_index + 1,
                    s.step_count,
                    s.step_name,
                    s.error.as_deref().unwrap_or(unsaid)
                );
                return out;
            }
            ProgressPhase::Running => {}
        }
        let _ = write!(
            out,
            "[{}/{}] {}",
            s.step_index + 1,
            s.step_count,
            s.step_name
        );
        if let Some(detail) = &s.step_detail {
            let _ = write!(out, ": {detail}");
        }
        if let Some(sub) = s.sub_progress {
            match sub.total {
                Some(total) => {
                    let _ = write!(out, " ({}/{total})", sub.done);
                }
                None => {
                    let _ = write!(out, " ({})", sub.done);
                }
            }
        }
        if let Some(nested) = &s.nested {
            let _ = write!(out, " › {}", nested.message);
        }
        push_items(&mut out, s.items);
        if let Some(eta) = s.eta {
            let _ = write!(out, " · ETA {}", format_duration(eta.remaining_secs));
        }
        out
    }
}

fn push_items(out: &mut String, items: Option<Counter>) {
    match items {
        Some(Counter {
            done,
            total: Some(total),
        }) => {
            let _ = write!(out, " · {done}/{total} items");
        }
        Some(Counter { done, total: None }) => {
            let _ = write!(out, " · {done} items");
        }
        None => {}
    }
}

/// Formats seconds compactly: `30s`, `1m 30s`, `2m`, `1h`, `1h 2m`.
///
/// Rounds to the nearest second; negative or non-finite input reads as `0s`. Same shapes as the
/// Python renderer's `_format_timedelta`, so users see familiar text.
pub fn format_duration(secs: f64) -> String {
    let total = if secs.is_finite() && secs > 0.0 {
        // Saturating float-to-int cast: absurd ETAs stay printable.
        secs.round() as u64
    } else {
        0
    };
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eta::Eta;
    use chrono::TimeZone;

    fn running() -> ProgressState {
        ProgressState {
            operation_id: "op".into(),
            phase: ProgressPhase::Running,
            step_index: 1,
            step_count: 3,
            step_name: "Fetch".into(),
            step_detail: None,
            sub_progress: None,
            items: None,
            percent: 40.0,
            message: String::new(),
            started_at: chrono::Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            elapsed_secs: 12.0,
            eta: None,
            error: None,
            nested: None,
        }
    }

    #[test]
    fn python_duration_vectors() {
        let cases = [
            (30.0, "30s"),
            (90.0, "1m 30s"),
            (120.0, "2m"),
            (3600.0, "1h"),
            (3750.0, "1h 2m"),
            (7200.0, "2h"),
            (0.4, "0s"),
            (-5.0, "0s"),
            (f64::NAN, "0s"),
            (59.6, "1m"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_duration(secs), want, "{secs}");
        }
        assert!(format_duration(f64::INFINITY) == "0s");
    }

    #[test]
    fn default_renderer_shows_every_running_field() {
        let mut s = running();
        assert_eq!(DefaultRenderer.render(&s), "[2/3] Fetch");
        s.step_detail = Some("segment 3".into());
        s.sub_progress = Some(Counter {
            done: 3,
            total: Some(10),
        });
        s.items = Some(Counter {
            done: 1500,
            total: None,
        });
        s.eta = Some(Eta {
            remaining_secs: 90.0,
            low_secs: 60.0,
            high_secs: 120.0,
        });
        assert_eq!(
            DefaultRenderer.render(&s),
            "[2/3] Fetch: segment 3 (3/10) · 1500 items · ETA 1m 30s"
        );
        let mut child = running();
        child.message = "[1/2] Load".into();
        s.nested = Some(Box::new(child));
        s.eta = None;
        s.items = None;
        assert_eq!(
            DefaultRenderer.render(&s),
            "[2/3] Fetch: segment 3 (3/10) › [1/2] Load"
        );
    }

    #[test]
    fn default_renderer_terminal_phases() {
        let mut s = running();
        s.phase = ProgressPhase::Completed;
        s.items = Some(Counter {
            done: 7,
            total: Some(7),
        });
        assert_eq!(DefaultRenderer.render(&s), "Completed in 12s · 7/7 items");
        s.phase = ProgressPhase::Failed;
        s.error = Some("gateway down".into());
        assert_eq!(
            DefaultRenderer.render(&s),
            "Failed at step 2/3 Fetch: gateway down"
        );
        s.phase = ProgressPhase::Cancelled;
        s.error = Some("cancelled by the user".into());
        assert_eq!(
            DefaultRenderer.render(&s),
            "Cancelled at step 2/3 Fetch: cancelled by the user"
        );
    }

    #[test]
    fn message_ignores_the_previous_message() {
        let mut a = running();
        a.step_detail = Some("x".into());
        let mut b = a.clone();
        b.message = "⚡ Starting load_data_AAPL_1h (AAPL 1h, tail mode) [0/10]".into();
        assert_eq!(DefaultRenderer.render(&a), DefaultRenderer.render(&b));
    }

    #[test]
    fn a_ranged_eta_is_shown_with_its_range_unless_the_range_is_under_a_second() {
        let eta = |remaining_secs, low_secs, high_secs| Eta {
            remaining_secs,
            low_secs,
            high_secs,
        };
        let mut out = String::from("Loading");
        push_eta_range(&mut out, Some(eta(90.0, 60.0, 150.0)));
        assert_eq!(out, "Loading · ETA 1m 30s (1m–2m 30s)");
        let mut out = String::new();
        push_eta_range(&mut out, Some(eta(0.4, 0.2, 0.9)));
        push_eta_range(&mut out, None);
        assert_eq!(out, "");
    }
}
