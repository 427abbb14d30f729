//! Typed indicator specifications: parsed from a strategy file's entry or a command-line
//! argument, validated against the [registry](crate::registry), and computed over a series.

use std::collections::BTreeMap;

use ktrdr_data::types::BarSeries;

use crate::error::SpecError;
use crate::output::IndicatorOutput;
use crate::params::{ParamValue, ResolvedParams, Source};
use crate::registry::{known_names, IndicatorKind};

mod columns;

/// An indicator with validated, typed parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // the fields are the registry's parameters, documented there
pub enum Indicator {
    Rsi {
        period: usize,
        source: Source,
    },
    Sma {
        period: usize,
        source: Source,
    },
    Ema {
        period: usize,
        source: Source,
        adjust: bool,
    },
    Macd {
        fast_period: usize,
        slow_period: usize,
        signal_period: usize,
        source: Source,
    },
    BollingerBands {
        period: usize,
        multiplier: f64,
        source: Source,
    },
    Stochastic {
        k_period: usize,
        d_period: usize,
        smooth_k: usize,
    },
    Adx {
        period: usize,
    },
    Atr {
        period: usize,
    },
    ZigZag {
        threshold: f64,
    },
    WilliamsR {
        period: usize,
    },
    Cci {
        period: usize,
    },
    Momentum {
        period: usize,
        source: Source,
    },
    Roc {
        period: usize,
        source: Source,
    },
    Obv,
    Mfi {
        period: usize,
    },
    Aroon {
        period: usize,
    },
    DonchianChannels {
        period: usize,
    },
    KeltnerChannels {
        period: usize,
        atr_period: usize,
        multiplier: f64,
    },
    Vwap {
        period: usize,
    },
    BollingerBandWidth {
        period: usize,
        multiplier: f64,
        source: Source,
    },
    VolumeRatio {
        period: usize,
    },
    DistanceFromMa {
        period: usize,
        source: Source,
    },
    Cmf {
        period: usize,
    },
    SuperTrend {
        period: usize,
        multiplier: f64,
    },
    AdLine {
        smoothing_period: usize,
    },
    ParabolicSar {
        initial_af: f64,
        step_af: f64,
        max_af: f64,
    },
    Rvi {
        period: usize,
        signal_period: usize,
    },
    FisherTransform {
        period: usize,
        smoothing: usize,
    },
    Ichimoku {
        tenkan_period: usize,
        kijun_period: usize,
        senkou_b_period: usize,
        displacement: usize,
    },
    SqueezeIntensity {
        bb_period: usize,
        bb_multiplier: f64,
        kc_period: usize,
        kc_multiplier: f64,
        source: Source,
    },
}

impl Indicator {
    /// Builds `kind` from named parameters (absent ones take the registry's defaults). Refuses
    /// an unknown, repeated, ill-typed or out-of-range parameter, naming it.
    pub fn from_params<'a>(
        kind: IndicatorKind,
        params: impl IntoIterator<Item = (&'a str, &'a ParamValue)>,
    ) -> Result<Self, SpecError> {
        let info = kind.info();
        let p = ResolvedParams::resolve(info.name, info.params, params)?;
        let indicator = match kind {
            IndicatorKind::Rsi => Indicator::Rsi {
                period: p.period("period"),
                source: p.source("source"),
            },
            IndicatorKind::Sma => Indicator::Sma {
                period: p.period("period"),
                source: p.source("source"),
            },
            IndicatorKind::Ema => Indicator::Ema {
                period: p.period("period"),
                source: p.source("source"),
                adjust: p.flag("adjust"),
            },
            IndicatorKind::Macd => {
                let (fast_period, slow_period) = (p.period("fast_period"), p.period("slow_period"));
                if fast_period >= slow_period {
                    return Err(SpecError::Inconsistent {
                        indicator: info.name,
                        reason: format!(
                            "fast_period ({fast_period}) must be less than slow_period ({slow_period})"
                        ),
                    });
                }
                Indicator::Macd {
                    fast_period,
                    slow_period,
                    signal_period: p.period("signal_period"),
                    source: p.source("source"),
                }
            }
            IndicatorKind::BollingerBands => Indicator::BollingerBands {
                period: p.period("period"),
                multiplier: p.number("multiplier"),
                source: p.source("source"),
            },
            IndicatorKind::Stochastic => Indicator::Stochastic {
                k_period: p.period("k_period"),
                d_period: p.period("d_period"),
                smooth_k: p.period("smooth_k"),
            },
            IndicatorKind::Adx => Indicator::Adx {
                period: p.period("period"),
            },
            IndicatorKind::Atr => Indicator::Atr {
                period: p.period("period"),
            },
            IndicatorKind::ZigZag => {
                let threshold = p.number("threshold");
                if threshold >= 1.0 {
                    return Err(SpecError::InvalidParam {
                        indicator: info.name,
                        param: "threshold",
                        value: threshold.to_string(),
                        expected: "a fraction strictly between 0 and 1".to_owned(),
                    });
                }
                Indicator::ZigZag { threshold }
            }
            IndicatorKind::WilliamsR => Indicator::WilliamsR {
                period: p.period("period"),
            },
            IndicatorKind::Cci => Indicator::Cci {
                period: p.period("period"),
            },
            IndicatorKind::Momentum => Indicator::Momentum {
                period: p.period("period"),
                source: p.source("source"),
            },
            IndicatorKind::Roc => Indicator::Roc {
                period: p.period("period"),
                source: p.source("source"),
            },
            IndicatorKind::Obv => Indicator::Obv,
            IndicatorKind::Mfi => Indicator::Mfi {
                period: p.period("period"),
            },
            IndicatorKind::Aroon => Indicator::Aroon {
                period: p.period("period"),
            },
            IndicatorKind::DonchianChannels => Indicator::DonchianChannels {
                period: p.period("period"),
            },
            IndicatorKind::KeltnerChannels => Indicator::KeltnerChannels {
                period: p.period("period"),
                atr_period: p.period("atr_period"),
                multiplier: p.number("multiplier"),
            },
            IndicatorKind::Vwap => Indicator::Vwap {
                period: p.period("period"),
            },
            IndicatorKind::BollingerBandWidth => Indicator::BollingerBandWidth {
                period: p.period("period"),
                multiplier: p.number("multiplier"),
                source: p.source("source"),
            },
            IndicatorKind::VolumeRatio => Indicator::VolumeRatio {
                period: p.period("period"),
            },
            IndicatorKind::DistanceFromMa => Indicator::DistanceFromMa {
                period: p.period("period"),
                source: p.source("source"),
            },
            IndicatorKind::Cmf => Indicator::Cmf {
                period: p.period("period"),
            },
            IndicatorKind::SuperTrend => Indicator::SuperTrend {
                period: p.period("period"),
                multiplier: p.number("multiplier"),
            },
            IndicatorKind::AdLine => Indicator::AdLine {
                smoothing_period: p.period("smoothing_period"),
            },
            IndicatorKind::SqueezeIntensity => Indicator::SqueezeIntensity {
                bb_period: p.period("bb_period"),
                bb_multiplier: p.number("bb_multiplier"),
                kc_period: p.period("kc_period"),
                kc_multiplier: p.number("kc_multiplier"),
                source: p.source("source"),
            },
            IndicatorKind::Ichimoku => Indicator::Ichimoku {
                tenkan_period: p.period("tenkan_period"),
                kijun_period: p.period("kijun_period"),
                senkou_b_period: p.period("senkou_b_period"),
                displacement: p.period("displacement"),
            },
            IndicatorKind::FisherTransform => Indicator::FisherTransform {
                period: p.period("period"),
                smoothing: p.period("smoothing"),
            },
            IndicatorKind::Rvi => Indicator::Rvi {
                period: p.period("period"),
                signal_period: p.period("signal_period"),
            },
            IndicatorKind::ParabolicSar => {
                let (initial_af, max_af) = (p.number("initial_af"), p.number("max_af"));
                if initial_af > max_af {
                    return Err(SpecError::Inconsistent {
                        indicator: info.name,
                        reason: format!(
                            "initial_af ({initial_af}) must not exceed max_af ({max_af})"
                        ),
                    });
                }
                Indicator::ParabolicSar {
                    initial_af,
                    step_af: p.number("step_af"),
                    max_af,
                }
            }
        };
        Ok(indicator)
    }

    /// `kind` with every parameter at its default.
    pub fn default_of(kind: IndicatorKind) -> Self {
        match Self::from_params(kind, std::iter::empty()) {
            Ok(i) => i,
            // Defaults are constants of the registry; `every_indicator_builds_from_its_defaults`
            // checks each one validates.
            Err(e) => unreachable!("the defaults of {kind:?} are invalid: {e}"),
        }
    }

    /// Which indicator this is.
    pub fn kind(&self) -> IndicatorKind {
        match self {
            Indicator::Rsi { .. } => IndicatorKind::Rsi,
            Indicator::Sma { .. } => IndicatorKind::Sma,
            Indicator::Ema { .. } => IndicatorKind::Ema,
            Indicator::Macd { .. } => IndicatorKind::Macd,
            Indicator::BollingerBands { .. } => IndicatorKind::BollingerBands,
            Indicator::Stochastic { .. } => IndicatorKind::Stochastic,
            Indicator::Adx { .. } => IndicatorKind::Adx,
            Indicator::Atr { .. } => IndicatorKind::Atr,
            Indicator::ZigZag { .. } => IndicatorKind::ZigZag,
            Indicator::WilliamsR { .. } => IndicatorKind::WilliamsR,
            Indicator::Cci { .. } => IndicatorKind::Cci,
            Indicator::Momentum { .. } => IndicatorKind::Momentum,
            Indicator::Roc { .. } => IndicatorKind::Roc,
            Indicator::Obv => IndicatorKind::Obv,
            Indicator::Mfi { .. } => IndicatorKind::Mfi,
            Indicator::Aroon { .. } => IndicatorKind::Aroon,
            Indicator::DonchianChannels { .. } => IndicatorKind::DonchianChannels,
            Indicator::KeltnerChannels { .. } => IndicatorKind::KeltnerChannels,
            Indicator::Vwap { .. } => IndicatorKind::Vwap,
            Indicator::BollingerBandWidth { .. } => IndicatorKind::BollingerBandWidth,
            Indicator::VolumeRatio { .. } => IndicatorKind::VolumeRatio,
            Indicator::DistanceFromMa { .. } => IndicatorKind::DistanceFromMa,
            Indicator::Cmf { .. } => IndicatorKind::Cmf,
            Indicator::SuperTrend { .. } => IndicatorKind::SuperTrend,
            Indicator::AdLine { .. } => IndicatorKind::AdLine,
            Indicator::ParabolicSar { .. } => IndicatorKind::ParabolicSar,
            Indicator::Rvi { .. } => IndicatorKind::Rvi,
            Indicator::FisherTransform { .. } => IndicatorKind::FisherTransform,
            Indicator::Ichimoku { .. } => IndicatorKind::Ichimoku,
            Indicator::SqueezeIntensity { .. } => IndicatorKind::SqueezeIntensity,
        }
    }

    /// Computes the indicator over `bars`: one column per [`column_names`](Self::column_names)
    /// entry, each as long as the series, NaN where the value is not defined (warm-up).
    pub fn compute(&self, bars: &BarSeries) -> IndicatorOutput {
        let values = crate::compute::compute(self, bars);
        IndicatorOutput::new(self.column_names(), values)
    }
}

/// One indicator as a strategy file declares it: the name its fuzzy sets refer to, and the
/// typed indicator.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSpec {
    /// The entry's `name` (what `fuzzy_sets` keys refer to), or the type's canonical name in
    /// lowercase when the entry has none.
    pub name: String,
    /// The validated indicator.
    pub indicator: Indicator,
}

/// A strategy file's indicator entry before validation: `type` (optional), `name` (optional)
/// and every other key as a parameter. Deserialise the YAML entry into this, then call
/// [`IndicatorSpec::from_entry`].
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct IndicatorEntry {
    /// The indicator type; when absent the name is used (the Python system's inference).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The entry's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Every other key.
    #[serde(flatten)]
    pub params: BTreeMap<String, ParamValue>,
}

impl IndicatorSpec {
    /// Validates a strategy file's entry: the type (or, without one, the name) must name an
    /// indicator and every other key one of its parameters.
    pub fn from_entry(entry: &IndicatorEntry) -> Result<Self, SpecError> {
        let type_name = entry
            .kind
            .as_deref()
            .or(entry.name.as_deref())
            .ok_or_else(|| SpecError::MissingType {
                known: known_names(),
            })?;
        let kind = IndicatorKind::from_name(type_name)?;
        let indicator =
            Indicator::from_params(kind, entry.params.iter().map(|(k, v)| (k.as_str(), v)))?;
        let name = entry
            .name
            .clone()
            .unwrap_or_else(|| kind.info().name.to_lowercase());
        Ok(IndicatorSpec { name, indicator })
    }

    /// Reads a command-line specification `NAME[:KEY=VALUE[,KEY=VALUE…]]`, e.g.
    /// `rsi:period=14` or `bbands:period=20,multiplier=2.5`.
    pub fn parse_cli(input: &str) -> Result<Self, SpecError> {
        let syntax = |reason: &str| SpecError::Syntax {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, rest) = match input.split_once(':') {
            Some((n, r)) => (n.trim(), Some(r)),
            None => (input.trim(), None),
        };
        if name.is_empty() {
            return Err(syntax("the indicator name is empty"));
        }
        let mut params = Vec::new();
        for pair in rest.into_iter().flat_map(|r| r.split(',')) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(syntax(&format!("{pair:?} is not KEY=VALUE")));
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() {
                return Err(syntax(&format!("{pair:?} has an empty key or value")));
            }
            params.push((k.to_owned(), ParamValue::parse_cli(v)));
        }
        let kind = IndicatorKind::from_name(name)?;
        let indicator = Indicator::from_params(kind, params.iter().map(|(k, v)| (k.as_str(), v)))?;
        Ok(IndicatorSpec {
            name: name.to_owned(),
            indicator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::INDICATORS;

    #[test]
    fn every_indicator_builds_from_its_defaults_and_names_its_columns() {
        for info in INDICATORS {
            let ind = Indicator::default_of(info.kind);
            assert_eq!(ind.kind(), info.kind);
            let cols = ind.column_names();
            assert_eq!(
                cols.len(),
                info.columns.split(", ").count(),
                "{}: {cols:?} vs {}",
                info.name,
                info.columns
            );
        }
    }

    #[test]
    fn documented_column_names() {
        let cols = |s: &str| {
            IndicatorSpec::parse_cli(s)
                .unwrap()
                .indicator
                .column_names()
        };
        assert_eq!(cols("rsi"), ["rsi_14"]);
        assert_eq!(
            cols("macd"),
            ["macd_12_26", "macd_signal_12_26_9", "macd_hist_12_26_9"]
        );
        assert_eq!(
            cols("bbands:multiplier=2.5"),
            ["bb_upper_20_2.5", "bb_middle_20_2.5", "bb_lower_20_2.5"]
        );
        assert_eq!(cols("sma:period=5,source=open"), ["sma_5_open"]);
        assert_eq!(cols("stoch"), ["stoch_k_14_3", "stoch_d_14_3_3"]);
    }

    #[test]
    fn strategy_entries_infer_the_type_from_the_name_and_keep_the_name() {
        let yaml_like = |kind: Option<&str>, name: Option<&str>, params: &[(&str, ParamValue)]| {
            IndicatorEntry {
                kind: kind.map(str::to_owned),
                name: name.map(str::to_owned),
                params: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            }
        };
        let s = IndicatorSpec::from_entry(&yaml_like(
            None,
            Some("BollingerBands"),
            &[
                ("period", ParamValue::Int(20)),
                ("multiplier", ParamValue::Float(2.0)),
                ("source", ParamValue::Text("close".into())),
            ],
        ))
        .unwrap();
        assert_eq!(s.name, "BollingerBands");
        assert_eq!(
            s.indicator,
            Indicator::BollingerBands {
                period: 20,
                multiplier: 2.0,
                source: Source::Close
            }
        );

        let s = IndicatorSpec::from_entry(&yaml_like(
            Some("rsi"),
            Some("rsi_fast"),
            &[("period", ParamValue::Int(7))],
        ))
        .unwrap();
        assert_eq!(
            (s.name.as_str(), s.indicator),
            (
                "rsi_fast",
                Indicator::Rsi {
                    period: 7,
                    source: Source::Close
                }
            )
        );

        let e = IndicatorSpec::from_entry(&yaml_like(
            None,
            Some("macd"),
            &[("fast", ParamValue::Int(7))],
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("fast_period, slow_period, signal_period, source"),
            "{e}"
        );
        assert!(matches!(
            IndicatorSpec::from_entry(&yaml_like(None, None, &[])),
            Err(SpecError::MissingType { .. })
        ));
    }

    #[test]
    fn cli_specs_are_parsed_and_bad_ones_refused() {
        let s = IndicatorSpec::parse_cli("MACD:fast_period=5, slow_period=10").unwrap();
        assert_eq!(
            s.indicator,
            Indicator::Macd {
                fast_period: 5,
                slow_period: 10,
                signal_period: 9,
                source: Source::Close
            }
        );
        for bad in [
            "",
            ":period=3",
            "rsi:period",
            "rsi:=3",
            "rsi:period=0",
            "macd:fast_period=30",
            "zigzag:threshold=1",
            "psar:initial_af=0.5,max_af=0.2",
            "nope",
        ] {
            assert!(
                IndicatorSpec::parse_cli(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
