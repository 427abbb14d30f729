//! The one list of indicators: names, aliases, parameter schemas and output columns. The
//! validator, the CLI's `--help` and the docs all read it, so they cannot disagree.

use crate::error::SpecError;
use crate::params::{ParamDef, ParamDefault, ParamKind, Source};

/// Every indicator this crate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndicatorKind {
    /// Relative Strength Index (Wilder).
    Rsi,
    /// Simple moving average.
    Sma,
    /// Exponential moving average.
    Ema,
    /// Moving Average Convergence Divergence.
    Macd,
    /// Bollinger Bands.
    BollingerBands,
    /// Stochastic oscillator.
    Stochastic,
    /// Average Directional Index.
    Adx,
    /// Average True Range.
    Atr,
    /// ZigZag extremes.
    ZigZag,
    /// Williams %R.
    WilliamsR,
    /// Commodity Channel Index.
    Cci,
    /// Momentum.
    Momentum,
    /// Rate of Change.
    Roc,
    /// On-Balance Volume.
    Obv,
    /// Money Flow Index.
    Mfi,
    /// Aroon up/down/oscillator.
    Aroon,
    /// Donchian Channels.
    DonchianChannels,
    /// Keltner Channels.
    KeltnerChannels,
    /// Volume-Weighted Average Price.
    Vwap,
    /// Bollinger Band Width.
    BollingerBandWidth,
    /// Volume Ratio.
    VolumeRatio,
    /// Distance from a moving average.
    DistanceFromMa,
    /// Chaikin Money Flow.
    Cmf,
    /// SuperTrend.
    SuperTrend,
    /// Accumulation/Distribution line.
    AdLine,
    /// Parabolic stop and reverse.
    ParabolicSar,
    /// Relative Vigor Index.
    Rvi,
    /// Fisher transform of the median price.
    FisherTransform,
    /// Ichimoku cloud (without the chikou span).
    Ichimoku,
    /// How deep the Bollinger Bands sit inside the Keltner Channels.
    SqueezeIntensity,
}

/// What the registry knows about one indicator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorInfo {
    /// The indicator.
    pub kind: IndicatorKind,
    /// Its canonical name (the Python class name without `Indicator`).
    pub name: &'static str,
    /// Other accepted names. Matching ignores case, `_`, `-`, spaces and a trailing `Indicator`,
    /// so `bollinger_bands`, `BollingerBands` and `BollingerBandsIndicator` are one name.
    pub aliases: &'static [&'static str],
    /// Its parameters with their defaults.
    pub params: &'static [ParamDef],
    /// Its output columns, `{param}` standing for a parameter's value.
    pub columns: &'static str,
    /// One line on what it computes.
    pub summary: &'static str,
}

/// The largest period any indicator accepts (a typo guard, far above any real use).
pub const MAX_PERIOD: usize = 100_000;

const fn period(name: &'static str, default: usize, min: usize) -> ParamDef {
    ParamDef {
        name,
        aliases: &[],
        kind: ParamKind::Period {
            min,
            max: MAX_PERIOD,
        },
        default: ParamDefault::Period(default),
    }
}

const fn number(
    name: &'static str,
    aliases: &'static [&'static str],
    default: f64,
    max: f64,
) -> ParamDef {
    ParamDef {
        name,
        aliases,
        kind: ParamKind::Number { min_excl: 0.0, max },
        default: ParamDefault::Number(default),
    }
}

const SOURCE: ParamDef = ParamDef {
    name: "source",
    aliases: &[],
    kind: ParamKind::Source,
    default: ParamDefault::Source(Source::Close),
};

const fn info(
    kind: IndicatorKind,
    name: &'static str,
    aliases: &'static [&'static str],
    params: &'static [ParamDef],
    columns: &'static str,
    summary: &'static str,
) -> IndicatorInfo {
    IndicatorInfo {
        kind,
        name,
        aliases,
        params,
        columns,
        summary,
    }
}

use IndicatorKind as K;

/// The registry, in the order `--help` and the docs list it.
pub const INDICATORS: &[IndicatorInfo] = &[
    info(K::Rsi, "RSI", &[], &[period("period", 14, 1), SOURCE], "rsi_{period}",
        "Wilder RSI: seed = mean gain/loss of the first `period` changes, then (avg·(n−1)+x)/n; 50 when flat, 100 without losses"),
    info(K::Sma, "SMA", &["volume_sma"], &[period("period", 20, 1), SOURCE], "sma_{period}",
        "rolling mean"),
    info(K::Ema, "EMA", &[], &[
        period("period", 20, 1),
        SOURCE,
        ParamDef { name: "adjust", aliases: &[], kind: ParamKind::Flag, default: ParamDefault::Flag(true) },
    ], "ema_{period}",
        "pandas ewm(span=period, adjust) mean, no SMA seed, values from the first bar"),
    info(K::Macd, "MACD", &[], &[
        period("fast_period", 12, 1),
        period("slow_period", 26, 2),
        period("signal_period", 9, 1),
        SOURCE,
    ], "macd_{fast_period}_{slow_period}, macd_signal_{fast_period}_{slow_period}_{signal_period}, macd_hist_{fast_period}_{slow_period}_{signal_period}",
        "EMA(fast) − EMA(slow) with adjust=False EMAs seeded with the first value; signal = EMA of the line; hist = line − signal"),
    info(K::BollingerBands, "BollingerBands", &["bbands", "bb"], &[
        period("period", 20, 2),
        number("multiplier", &["std_dev", "num_std"], 2.0, 100.0),
        SOURCE,
    ], "bb_upper_{period}_{multiplier}, bb_middle_{period}_{multiplier}, bb_lower_{period}_{multiplier}",
        "SMA ± multiplier · sample standard deviation (ddof 1)"),
    info(K::Stochastic, "Stochastic", &["stoch"], &[
        period("k_period", 14, 1),
        period("d_period", 3, 1),
        period("smooth_k", 3, 1),
    ], "stoch_k_{k_period}_{smooth_k}, stoch_d_{k_period}_{smooth_k}_{d_period}",
        "raw = 100·(C − LL)/(HH − LL) over k_period (NaN when HH = LL); %K = SMA(raw, smooth_k); %D = SMA(%K, d_period)"),
    info(K::Adx, "ADX", &[], &[period("period", 14, 1)], "adx_{period}, plus_di_{period}, minus_di_{period}",
        "Wilder (ewm α = 1/period, adjust=False) of TR, +DM, −DM; DI = 100·DM/TR; DX = 100·|DI+ − DI−|/(DI+ + DI−); ADX = Wilder(DX)"),
    info(K::Atr, "ATR", &[], &[period("period", 14, 1)], "atr_{period}",
        "simple rolling mean of the true range (first bar's TR = H − L)"),
    info(K::ZigZag, "ZigZag", &[], &[number("threshold", &[], 0.05, 1.0)], "zigzag_{threshold}",
        "the close at each zigzag extreme (the last one provisional), NaN between them"),
    info(K::WilliamsR, "WilliamsR", &["willr", "williams_%r"], &[period("period", 14, 1)], "williams_r_{period}",
        "−100·(HH − C)/(HH − LL) over period; NaN when HH = LL"),
    info(K::Cci, "CCI", &[], &[period("period", 20, 1)], "cci_{period}",
        "(TP − SMA(TP))/(0.015 · mean absolute deviation of TP), TP = (H + L + C)/3; NaN when the deviation is 0"),
    info(K::Momentum, "Momentum", &["mom"], &[period("period", 10, 1), SOURCE], "momentum_{period}",
        "x − x[period bars ago]"),
    info(K::Roc, "ROC", &["rate_of_change"], &[period("period", 10, 1), SOURCE], "roc_{period}",
        "100·(x/x[period bars ago] − 1); NaN when the old value is 0"),
    info(K::Obv, "OBV", &["on_balance_volume"], &[], "obv",
        "cumulative volume signed by the close's change (0 on the first bar and when unchanged)"),
    info(K::Mfi, "MFI", &["money_flow_index"], &[period("period", 14, 1)], "mfi_{period}",
        "100·PMF/(PMF + NMF) over period of TP·V signed by TP's change; NaN when both are 0"),
    info(K::Aroon, "Aroon", &[], &[period("period", 14, 1)], "aroon_up_{period}, aroon_down_{period}, aroon_osc_{period}",
        "100·(period − bars since the HH / LL of the last period + 1 bars)/period (ties: the most recent); osc = up − down"),
    info(K::DonchianChannels, "DonchianChannels", &["donchian"], &[period("period", 20, 1)],
        "donchian_upper_{period}, donchian_middle_{period}, donchian_lower_{period}",
        "rolling max of high, rolling min of low, and their mean"),
    info(K::KeltnerChannels, "KeltnerChannels", &["keltner"], &[
        period("period", 20, 1),
        period("atr_period", 10, 1),
        number("multiplier", &[], 2.0, 100.0),
    ], "keltner_upper_{period}_{atr_period}_{multiplier}, keltner_middle_{period}_{atr_period}_{multiplier}, keltner_lower_{period}_{atr_period}_{multiplier}",
        "EMA(close, period, adjust=False) ± multiplier · ATR(atr_period) (ATR as above)"),
    info(K::Vwap, "VWAP", &[], &[ParamDef {
        name: "period",
        aliases: &[],
        kind: ParamKind::Period { min: 0, max: MAX_PERIOD },
        default: ParamDefault::Period(20),
    }], "vwap_{period}",
        "Σ TP·V / Σ V over the last period bars (period 0: since the first bar), TP = (H + L + C)/3; NaN when Σ V = 0"),
    info(K::BollingerBandWidth, "BollingerBandWidth", &["bbw", "bb_width"], &[
        period("period", 20, 2),
        number("multiplier", &["std_dev", "num_std"], 2.0, 100.0),
        SOURCE,
    ], "bb_width_{period}_{multiplier}",
        "(upper − lower)/middle of the Bollinger Bands; NaN when the middle is 0"),
    info(K::VolumeRatio, "VolumeRatio", &[], &[period("period", 20, 1)], "volume_ratio_{period}",
        "volume / SMA(volume, period); NaN when the average is 0"),
    info(K::DistanceFromMa, "DistanceFromMA", &["distance_from_moving_average"], &[
        period("period", 20, 1),
        SOURCE,
    ], "distance_from_ma_{period}",
        "100·(x − SMA(x, period))/SMA(x, period); NaN when the average is 0"),
    info(K::Cmf, "CMF", &["chaikin_money_flow"], &[period("period", 21, 1)], "cmf_{period}",
        "Σ MFV / Σ V over period, MFV = V·((C − L) − (H − C))/(H − L) (0 when H = L); NaN when Σ V = 0"),
    info(K::SuperTrend, "SuperTrend", &[], &[
        period("period", 10, 1),
        number("multiplier", &[], 3.0, 100.0),
    ], "supertrend_{period}_{multiplier}, supertrend_direction_{period}_{multiplier}",
        "HL2 ± multiplier · ATR(period) bands that only tighten until the close crosses them; the active band and the direction (+1/−1)"),
    info(K::AdLine, "ADLine", &["accumulation_distribution"], &[
        period("smoothing_period", 21, 1),
    ], "ad_line, ad_line_sma_{smoothing_period}",
        "Σ V·((C − L) − (H − C))/(H − L) since the first bar (0 when H = L), and its SMA"),
    info(K::ParabolicSar, "ParabolicSAR", &["psar"], &[
        number("initial_af", &[], 0.02, 1.0),
        number("step_af", &[], 0.02, 1.0),
        number("max_af", &[], 0.2, 1.0),
    ], "psar_{initial_af}_{step_af}_{max_af}",
        "Wilder's stop and reverse, started from the first two bars' direction; NaN on the first bar"),
    info(K::Rvi, "RVI", &["relative_vigor_index"], &[
        period("period", 10, 1),
        period("signal_period", 4, 1),
    ], "rvi_{period}, rvi_signal_{period}_{signal_period}",
        "SMA of (C − O) over SMA of (H − L), each first weighted 1,2,2,1 over 4 bars; signal = SMA(RVI); NaN when the range average is 0"),
    info(K::FisherTransform, "FisherTransform", &["fisher"], &[
        period("period", 10, 1),
        period("smoothing", 3, 1),
    ], "fisher_{period}_{smoothing}, fisher_signal_{period}_{smoothing}",
        "EMA(smoothing) of ½·ln((1 + x)/(1 − x)), x = 2·(HL2 − LL)/(HH − LL) − 1 over period clipped to ±0.999 (NaN when HH = LL); signal = the previous value"),
    info(K::Ichimoku, "Ichimoku", &["ichimoku_cloud"], &[
        period("tenkan_period", 9, 1),
        period("kijun_period", 26, 1),
        period("senkou_b_period", 52, 1),
        period("displacement", 26, 0),
    ], "ichimoku_tenkan_{tenkan_period}, ichimoku_kijun_{kijun_period}, ichimoku_senkou_a_{tenkan_period}_{kijun_period}_{displacement}, ichimoku_senkou_b_{senkou_b_period}_{displacement}",
        "range midpoints (HH + LL)/2 over the tenkan and kijun periods; spans A = their mean and B = the senkou_b midpoint, shifted displacement bars forward; no chikou span (it is the future close)"),
    info(K::SqueezeIntensity, "SqueezeIntensity", &["squeeze"], &[
        period("bb_period", 20, 2),
        number("bb_multiplier", &[], 2.0, 100.0),
        period("kc_period", 20, 1),
        number("kc_multiplier", &[], 2.0, 100.0),
        SOURCE,
    ], "squeeze_intensity_{bb_period}_{bb_multiplier}_{kc_period}_{kc_multiplier}",
        "max(0, min(KCu − BBu, BBl − KCl)/(KCu − KCl)) with Keltner's ATR over 10 bars; NaN when the channel has no width"),
];

impl IndicatorKind {
    /// This indicator's registry entry.
    pub fn info(self) -> &'static IndicatorInfo {
        match INDICATORS.iter().find(|i| i.kind == self) {
            Some(i) => i,
            // `registry_lists_every_kind_once` checks every variant has an entry.
            None => unreachable!("{self:?} has no registry entry"),
        }
    }

    /// Finds the indicator a strategy file or command line names (see [`IndicatorInfo::aliases`]).
    pub fn from_name(given: &str) -> Result<Self, SpecError> {
        let key = normalise(given);
        INDICATORS
            .iter()
            .find(|i| normalise(i.name) == key || i.aliases.iter().any(|a| normalise(a) == key))
            .map(|i| i.kind)
            .ok_or_else(|| SpecError::UnknownIndicator {
                given: given.to_owned(),
                known: known_names(),
            })
    }
}

/// Every accepted name, canonical first then aliases, for error messages.
pub fn known_names() -> String {
    let names: Vec<String> = INDICATORS
        .iter()
        .map(|i| {
            if i.aliases.is_empty() {
                i.name.to_owned()
            } else {
                format!("{} ({})", i.name, i.aliases.join(", "))
            }
        })
        .collect();
    names.join(", ")
}

/// The indicator list with parameters and columns, one indicator per line (for `--help`).
pub fn help_text() -> String {
    let mut s = String::new();
    for i in INDICATORS {
        let params: Vec<String> = i
            .params
            .iter()
            .map(|p| format!("{}={}", p.name, p.default))
            .collect();
        let params = if params.is_empty() {
            "(no parameters)".to_owned()
        } else {
            params.join(" ")
        };
        let names = if i.aliases.is_empty() {
            i.name.to_owned()
        } else {
            format!("{} ({})", i.name, i.aliases.join(", "))
        };
        s.push_str(&format!("  {names}: {params}\n      → {}\n", i.columns));
    }
    s
}

fn normalise(name: &str) -> String {
    let flat: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    match flat.strip_suffix("indicator") {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [IndicatorKind; 30] = [
        K::Rsi,
        K::Sma,
        K::Ema,
        K::Macd,
        K::BollingerBands,
        K::Stochastic,
        K::Adx,
        K::Atr,
        K::ZigZag,
        K::WilliamsR,
        K::Cci,
        K::Momentum,
        K::Roc,
        K::Obv,
        K::Mfi,
        K::Aroon,
        K::DonchianChannels,
        K::KeltnerChannels,
        K::Vwap,
        K::BollingerBandWidth,
        K::VolumeRatio,
        K::DistanceFromMa,
        K::Cmf,
        K::SuperTrend,
        K::AdLine,
        K::ParabolicSar,
        K::Rvi,
        K::FisherTransform,
        K::Ichimoku,
        K::SqueezeIntensity,
    ];

    #[test]
    fn registry_lists_every_kind_once() {
        assert_eq!(INDICATORS.len(), ALL.len());
        for k in ALL {
            assert_eq!(
                INDICATORS.iter().filter(|i| i.kind == k).count(),
                1,
                "{k:?}"
            );
            assert_eq!(k.info().kind, k);
        }
    }

    #[test]
    fn no_two_indicators_share_a_name() {
        let mut seen = std::collections::HashSet::new();
        for i in INDICATORS {
            for n in std::iter::once(&i.name).chain(i.aliases) {
                assert!(seen.insert(normalise(n)), "{n} is ambiguous");
            }
        }
    }

    #[test]
    fn strategy_file_spellings_resolve() {
        for (given, kind) in [
            ("rsi", K::Rsi),
            ("RSI", K::Rsi),
            ("RSIIndicator", K::Rsi),
            ("sma", K::Sma),
            ("volume_sma", K::Sma),
            ("ema", K::Ema),
            ("macd", K::Macd),
            ("bollinger_bands", K::BollingerBands),
            ("BollingerBands", K::BollingerBands),
            ("bbands", K::BollingerBands),
            ("stoch", K::Stochastic),
            ("stochastic", K::Stochastic),
            ("adx", K::Adx),
            ("atr", K::Atr),
            ("zigzag", K::ZigZag),
            ("keltner_channels", K::KeltnerChannels),
            ("momentum", K::Momentum),
        ] {
            assert_eq!(IndicatorKind::from_name(given), Ok(kind), "{given}");
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let e = IndicatorKind::from_name("supertrendy")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("supertrendy") && e.contains("BollingerBands (bbands"),
            "{e}"
        );
        assert!(IndicatorKind::from_name("indicator").is_err());
    }
}
