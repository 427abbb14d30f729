//! The highest high and lowest low of the last `n` bars, for indicators that place the close in
//! that range (Stochastic, Williams %R, Donchian) or count the bars since them (Aroon). Clean
//! input takes the fast scans of `fast.rs`; input with a NaN a monotonic queue, whose windows
//! holding the NaN are `None`.

use super::NAN;
use crate::fast::{all_finite, BlockExtreme, WindowExtreme};
use crate::kernels::{Extreme, RollingExtreme};

/// `(highest high, lowest low)` of the window ending at each bar, bars visited in order.
pub(super) enum PriceRange<'a> {
    Clean {
        h: &'a [f64],
        l: &'a [f64],
        n: usize,
        highs: BlockExtreme<true>,
        lows: BlockExtreme<false>,
    },
    Streaming(Queues<'a>),
}

impl<'a> PriceRange<'a> {
    pub(super) fn new(h: &'a [f64], l: &'a [f64], n: usize) -> Self {
        if all_finite(&[h, l]) {
            PriceRange::Clean {
                h,
                l,
                n,
                highs: BlockExtreme::new(n),
                lows: BlockExtreme::new(n),
            }
        } else {
            PriceRange::Streaming(Queues::new(h, l, n))
        }
    }

    /// The window ending at bar `i`; `None` in the warm-up or when it holds a NaN.
    #[inline(always)]
    pub(super) fn at(&mut self, i: usize) -> Option<(f64, f64)> {
        match self {
            PriceRange::Clean {
                h,
                l,
                n,
                highs,
                lows,
            } => {
                let (hh, ll) = (highs.at(h, i), lows.at(l, i));
                (i + 1 >= *n).then_some((hh, ll))
            }
            PriceRange::Streaming(q) => q.at(i).map(|((hh, _), (ll, _))| (hh, ll)),
        }
    }

    /// `f(close, highest high, lowest low)`; NaN in the warm-up and where the range is 0.
    #[inline(always)]
    pub(super) fn position(&mut self, i: usize, c: f64, f: impl Fn(f64, f64, f64) -> f64) -> f64 {
        match self.at(i) {
            Some((hh, ll)) if hh != ll => f(c, hh, ll),
            _ => NAN,
        }
    }
}

/// How many bars ago the highest high and the lowest low of the window ending at each bar were
/// (ties: the most recent), bars visited in order.
pub(super) enum ExtremeAges<'a> {
    Clean {
        h: &'a [f64],
        l: &'a [f64],
        n: usize,
        highs: WindowExtreme<true>,
        lows: WindowExtreme<false>,
    },
    Streaming(Queues<'a>),
}

impl<'a> ExtremeAges<'a> {
    pub(super) fn new(h: &'a [f64], l: &'a [f64], n: usize) -> Self {
        if all_finite(&[h, l]) {
            ExtremeAges::Clean {
                h,
                l,
                n,
                highs: WindowExtreme::new(n),
                lows: WindowExtreme::new(n),
            }
        } else {
            ExtremeAges::Streaming(Queues::new(h, l, n))
        }
    }

    /// The ages for the window ending at bar `i`; `None` in the warm-up or when it holds a NaN.
    #[inline(always)]
    pub(super) fn at(&mut self, i: usize) -> Option<(usize, usize)> {
        match self {
            ExtremeAges::Clean {
                h,
                l,
                n,
                highs,
                lows,
            } => {
                let (high_age, low_age) = (highs.at(h, i).1, lows.at(l, i).1);
                (i + 1 >= *n).then_some((high_age, low_age))
            }
            ExtremeAges::Streaming(q) => q.at(i).map(|((_, a), (_, b))| (a, b)),
        }
    }
}

/// Monotonic queues over highs and lows, for input with NaN.
pub(super) struct Queues<'a> {
    h: &'a [f64],
    l: &'a [f64],
    highs: RollingExtreme,
    lows: RollingExtreme,
}

impl<'a> Queues<'a> {
    fn new(h: &'a [f64], l: &'a [f64], n: usize) -> Self {
        Queues {
            h,
            l,
            highs: RollingExtreme::new(n, Extreme::Max),
            lows: RollingExtreme::new(n, Extreme::Min),
        }
    }

    #[inline]
    fn at(&mut self, i: usize) -> Option<((f64, usize), (f64, usize))> {
        self.highs.push(self.h[i]).zip(self.lows.push(self.l[i]))
    }
}
