//! ZigZag labels: each bar's class from the direction of the price to its next zigzag extreme.
//!
//! The extremes (on the close, threshold `t`):
//! 1. Bar 0 is an extreme. Until a direction is known, each close is compared with bar 0's; the
//!    first bar with `|p/p0 − 1| ≥ t` is marked and sets the direction (up if above).
//! 2. Going up, a strictly higher close moves the last mark to itself; a close with
//!    `p/peak − 1 ≤ −t` is marked and turns the direction down. Going down is symmetric.
//! 3. The last mark is provisional: a later bar could still move it.
//!
//! The labels: between consecutive extremes `i < j`, bars `i+1 ..= j−1` are [`Signal::Buy`] when
//! `p_j > p_i`, else [`Signal::Sell`] (equal prices: sell); extremes and the bars after the last
//! one are [`Signal::Hold`]. With a lookahead `h`, a bar more than `h` bars before its next
//! extreme (`j − k > h`) is [`Signal::Hold`] too: its move is beyond the horizon the model is
//! asked to see (the Python system ignored `label_lookahead`).

/// What a model predicts for a bar, as the Python system encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Signal {
    /// The price rises to the next zigzag extreme.
    Buy = 0,
    /// At an extreme, after the last one, or beyond the lookahead: no direction known.
    Hold = 1,
    /// The price falls to the next zigzag extreme.
    Sell = 2,
}

impl Signal {
    /// The three classes in index order.
    pub const ALL: [Signal; 3] = [Signal::Buy, Signal::Hold, Signal::Sell];

    /// The class index (BUY 0, HOLD 1, SELL 2).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class of an index, if it is one.
    pub fn from_index(i: usize) -> Option<Signal> {
        Signal::ALL.get(i).copied()
    }

    /// `BUY`, `HOLD` or `SELL`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Buy => "BUY",
            Signal::Hold => "HOLD",
            Signal::Sell => "SELL",
        }
    }
}

/// Why a labeller was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// `zigzag_threshold` outside (0, 1).
    #[error("zigzag_threshold is {0}; it must be a fraction strictly between 0 and 1")]
    Threshold(f64),
    /// `label_lookahead` of 0 (every bar would be HOLD).
    #[error("label_lookahead is 0; it must be at least 1 bar")]
    Lookahead,
}

/// Labels bars from zigzag extremes (see the [module docs](self) for the rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZigZagLabeler {
    threshold: f64,
    lookahead: Option<usize>,
}

impl ZigZagLabeler {
    /// A labeller with threshold `t` in (0, 1) and an optional horizon in bars (≥ 1).
    pub fn new(threshold: f64, lookahead: Option<usize>) -> Result<Self, LabelError> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(LabelError::Threshold(threshold));
        }
        if lookahead == Some(0) {
            return Err(LabelError::Lookahead);
        }
        Ok(ZigZagLabeler {
            threshold,
            lookahead,
        })
    }

    /// One label per close.
    pub fn labels(&self, close: &[f64]) -> Vec<Signal> {
        let mut labels = vec![Signal::Hold; close.len()];
        for pair in zigzag_extremes(close, self.threshold).windows(2) {
            let (i, j) = (pair[0], pair[1]);
            let signal = if close[j] > close[i] {
                Signal::Buy
            } else {
                Signal::Sell
            };
            let first = match self.lookahead {
                Some(h) => (i + 1).max(j.saturating_sub(h)),
                None => i + 1,
            };
            for label in &mut labels[first..j] {
                *label = signal;
            }
        }
        labels
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Unknown,
    Up,
    Down,
}

/// The indices of the zigzag extremes of `close` with threshold `t` (bar 0 first, the last one
/// provisional); empty for an empty series. Non-finite closes never mark nor move an extreme.
pub fn zigzag_extremes(close: &[f64], t: f64) -> Vec<usize> {
    let Some(&p0) = close.first() else {
        return Vec::new();
    };
    let mut marks = vec![0];
    let mut direction = Direction::Unknown;
    for (i, &p) in close.iter().enumerate().skip(1) {
        let last = marks.len() - 1;
        let extreme = close[marks[last]];
        match direction {
            Direction::Unknown => {
                if (p / p0 - 1.0).abs() >= t {
                    marks.push(i);
                    direction = if p > p0 {
                        Direction::Up
                    } else {
                        Direction::Down
                    };
                }
            }
            Direction::Up => {
                if p > extreme {
                    marks[last] = i;
                } else if p / extreme - 1.0 <= -t {
                    marks.push(i);
                    direction = Direction::Down;
                }
            }
            Direction::Down => {
                if p < extreme {
                    marks[last] = i;
                } else if p / extreme - 1.0 >= t {
                    marks.push(i);
                    direction = Direction::Up;
                }
            }
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::{Buy as B, Hold as H, Sell as S};

    fn labels(close: &[f64], t: f64, lookahead: Option<usize>) -> Vec<Signal> {
        ZigZagLabeler::new(t, lookahead).unwrap().labels(close)
    }

    #[test]
    fn up_then_down_with_a_provisional_tail() {
        //          0      1      2      3      4      5      6      7
        let c = [100.0, 102.0, 106.0, 110.0, 108.0, 99.0, 97.0, 98.0];
        // Up from 0: 106 marks (≥ 5 %), 110 moves the peak to 3; 99 is −10 %: marks 5, turns
        // down; 97 moves the trough to 6 (provisional); 98 does not rise 5 %.
        assert_eq!(zigzag_extremes(&c, 0.05), [0, 3, 6]);
        assert_eq!(labels(&c, 0.05, None), [H, B, B, H, S, S, H, H]);
    }

    #[test]
    fn direction_is_set_against_bar_zero_and_down_first_works() {
        let c = [100.0, 101.0, 99.0, 94.0, 96.0, 100.0, 101.0];
        // 94 is −6 % from 100: marked, direction down; 100 is +6.4 % from 94: marked, up; 101
        // moves the peak.
        assert_eq!(zigzag_extremes(&c, 0.05), [0, 3, 6]);
        assert_eq!(labels(&c, 0.05, None), [H, S, S, H, B, B, H]);
    }

    #[test]
    fn ties_neither_move_an_extreme_nor_buy() {
        // The second 110 is not a new high: the peak stays at bar 1.
        let c = [100.0, 110.0, 110.0, 100.0];
        assert_eq!(zigzag_extremes(&c, 0.05), [0, 1, 3]);
        // Equal prices at consecutive extremes label the bars between as SELL.
        let flat_pair = [100.0, 90.0, 100.0, 101.0, 100.0];
        assert_eq!(zigzag_extremes(&flat_pair, 0.05), [0, 1, 3]);
        // 0 → 1 falls; 1 → 3 rises (bar 2 BUY); bar 4 is after the provisional extreme.
        assert_eq!(labels(&flat_pair, 0.05, None), [H, H, B, H, H]);
    }

    #[test]
    fn no_move_beyond_the_threshold_is_all_hold() {
        let c = [100.0, 101.0, 99.0, 102.0];
        assert_eq!(zigzag_extremes(&c, 0.05), [0]);
        assert_eq!(labels(&c, 0.05, None), [H; 4]);
        assert!(labels(&[], 0.05, None).is_empty());
    }

    #[test]
    fn lookahead_bounds_the_horizon() {
        // One long rise to bar 6 then a fall marked at bar 7.
        let c = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 110.0, 100.0];
        assert_eq!(zigzag_extremes(&c, 0.05), [0, 6, 7]);
        assert_eq!(labels(&c, 0.05, None), [H, B, B, B, B, B, H, H]);
        // Within 2 bars of the next extreme (6 − k ≤ 2): bars 4 and 5 only.
        assert_eq!(labels(&c, 0.05, Some(2)), [H, H, H, H, B, B, H, H]);
        assert_eq!(labels(&c, 0.05, Some(1)), [H, H, H, H, H, B, H, H]);
        assert_eq!(labels(&c, 0.05, Some(5)), labels(&c, 0.05, None));
    }

    #[test]
    fn nan_closes_are_skipped() {
        let c = [100.0, f64::NAN, 110.0, f64::NAN, 100.0];
        assert_eq!(zigzag_extremes(&c, 0.05), [0, 2, 4]);
    }

    #[test]
    fn invalid_settings_are_refused() {
        for t in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(
                matches!(ZigZagLabeler::new(t, None), Err(LabelError::Threshold(_))),
                "{t}"
            );
        }
        assert_eq!(
            ZigZagLabeler::new(0.05, Some(0)),
            Err(LabelError::Lookahead)
        );
    }

    #[test]
    fn signal_indices_match_the_python_encoding() {
        assert_eq!([B.index(), H.index(), S.index()], [0, 1, 2]);
        assert_eq!(Signal::from_index(2), Some(S));
        assert_eq!(Signal::from_index(3), None);
    }
}
