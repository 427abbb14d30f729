//! The output column names of each indicator, known before computing (`features.json` records
//! them).

use super::Indicator;
use crate::params::Source;

impl Indicator {
    /// The names of the columns [`compute`](Self::compute) returns, in its order (the first is
    /// the indicator's main line). A source other than `close` is appended as `_<source>`.
    pub fn column_names(&self) -> Vec<String> {
        let (stems, source): (Vec<String>, Option<Source>) = match *self {
            Indicator::Rsi { period, source } => (vec![format!("rsi_{period}")], Some(source)),
            Indicator::Sma { period, source } => (vec![format!("sma_{period}")], Some(source)),
            Indicator::Ema { period, source, .. } => (vec![format!("ema_{period}")], Some(source)),
            Indicator::Macd {
                fast_period: f,
                slow_period: s,
                signal_period: g,
                source,
            } => (
                vec![
                    format!("macd_{f}_{s}"),
                    format!("macd_signal_{f}_{s}_{g}"),
                    format!("macd_hist_{f}_{s}_{g}"),
                ],
                Some(source),
            ),
            Indicator::BollingerBands {
                period,
                multiplier,
                source,
            } => (
                ["upper", "middle", "lower"]
                    .iter()
                    .map(|b| format!("bb_{b}_{period}_{multiplier}"))
                    .collect(),
                Some(source),
            ),
            Indicator::Stochastic {
                k_period,
                d_period,
                smooth_k,
            } => (
                vec![
                    format!("stoch_k_{k_period}_{smooth_k}"),
                    format!("stoch_d_{k_period}_{smooth_k}_{d_period}"),
                ],
                None,
            ),
            Indicator::Adx { period } => (
                vec![
                    format!("adx_{period}"),
                    format!("plus_di_{period}"),
                    format!("minus_di_{period}"),
                ],
                None,
            ),
            Indicator::Atr { period } => (vec![format!("atr_{period}")], None),
            Indicator::ZigZag { threshold } => (vec![format!("zigzag_{threshold}")], None),
            Indicator::WilliamsR { period } => (vec![format!("williams_r_{period}")], None),
            Indicator::Cci { period } => (vec![format!("cci_{period}")], None),
            Indicator::Momentum { period, source } => {
                (vec![format!("momentum_{period}")], Some(source))
            }
            Indicator::Roc { period, source } => (vec![format!("roc_{period}")], Some(source)),
            Indicator::Obv => (vec!["obv".to_owned()], None),
            Indicator::Mfi { period } => (vec![format!("mfi_{period}")], None),
            Indicator::Aroon { period } => (
                ["up", "down", "osc"]
                    .iter()
                    .map(|l| format!("aroon_{l}_{period}"))
                    .collect(),
                None,
            ),
            Indicator::DonchianChannels { period } => (
                ["upper", "middle", "lower"]
                    .iter()
                    .map(|b| format!("donchian_{b}_{period}"))
                    .collect(),
                None,
            ),
            Indicator::KeltnerChannels {
                period,
                atr_period,
                multiplier,
            } => (
                ["upper", "middle", "lower"]
                    .iter()
                    .map(|b| format!("keltner_{b}_{period}_{atr_period}_{multiplier}"))
                    .collect(),
                None,
            ),
            Indicator::Vwap { period } => (vec![format!("vwap_{period}")], None),
            Indicator::BollingerBandWidth {
                period,
                multiplier,
                source,
            } => (
                vec![format!("bb_width_{period}_{multiplier}")],
                Some(source),
            ),
            Indicator::VolumeRatio { period } => (vec![format!("volume_ratio_{period}")], None),
            Indicator::DistanceFromMa { period, source } => {
                (vec![format!("distance_from_ma_{period}")], Some(source))
            }
            Indicator::Cmf { period } => (vec![format!("cmf_{period}")], None),
            Indicator::SuperTrend { period, multiplier } => (
                vec![
                    format!("supertrend_{period}_{multiplier}"),
                    format!("supertrend_direction_{period}_{multiplier}"),
                ],
                None,
            ),
            Indicator::ParabolicSar {
                initial_af,
                step_af,
                max_af,
            } => (vec![format!("psar_{initial_af}_{step_af}_{max_af}")], None),
            Indicator::SqueezeIntensity {
                bb_period,
                bb_multiplier,
                kc_period,
                kc_multiplier,
                source,
            } => (
                vec![format!(
                    "squeeze_intensity_{bb_period}_{bb_multiplier}_{kc_period}_{kc_multiplier}"
                )],
                Some(source),
            ),
            Indicator::Ichimoku {
                tenkan_period: t,
                kijun_period: k,
                senkou_b_period: b,
                displacement: d,
            } => (
                vec![
                    format!("ichimoku_tenkan_{t}"),
                    format!("ichimoku_kijun_{k}"),
                    format!("ichimoku_senkou_a_{t}_{k}_{d}"),
                    format!("ichimoku_senkou_b_{b}_{d}"),
                ],
                None,
            ),
            Indicator::FisherTransform { period, smoothing } => (
                vec![
                    format!("fisher_{period}_{smoothing}"),
                    format!("fisher_signal_{period}_{smoothing}"),
                ],
                None,
            ),
            Indicator::Rvi {
                period,
                signal_period,
            } => (
                vec![
                    format!("rvi_{period}"),
                    format!("rvi_signal_{period}_{signal_period}"),
                ],
                None,
            ),
            Indicator::AdLine { smoothing_period } => (
                vec![
                    "ad_line".to_owned(),
                    format!("ad_line_sma_{smoothing_period}"),
                ],
                None,
            ),
        };
        match source {
            Some(src) if src != Source::Close => stems
                .into_iter()
                .map(|s| format!("{s}_{}", src.name()))
                .collect(),
            _ => stems,
        }
    }
}
