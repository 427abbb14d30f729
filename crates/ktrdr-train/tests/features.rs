//! The feature pipeline: no look-ahead across timeframes, warm-up rows dropped (never filled),
//! lags, one column order for training and prediction, and the chronological split.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::path::Path;

use ktrdr_data::types::{BarSeries, Timeframe};
use ktrdr_train::features::{assemble_dataset, FeatureError, FeatureSpec, SymbolBars};
use ktrdr_train::strategy::Strategy;
use support::bars::{series, walk};

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn shipped(name: &str) -> Strategy {
    Strategy::load(&Path::new(STRATEGIES).join(format!("{name}.yaml"))).unwrap()
}

fn shipped_text(name: &str) -> String {
    std::fs::read_to_string(Path::new(STRATEGIES).join(format!("{name}.yaml"))).unwrap()
}

fn spec_of(s: &Strategy) -> FeatureSpec {
    FeatureSpec::from_strategy(s, s.timeframes().unwrap()).unwrap()
}

/// Scales the prices of every bar, at every timeframe, that has not closed by `cut_close`.
fn perturb_after(series: &[(Timeframe, BarSeries)], cut_close: i64) -> Vec<(Timeframe, BarSeries)> {
    series
        .iter()
        .map(|(tf, s)| {
            let bars = s.iter().enumerate().map(|(i, mut b)| {
                if b.ts + tf.seconds() > cut_close {
                    let f = 1.0 + 0.05 * ((i % 7) as f64 - 3.0);
                    b.open *= f;
                    b.high *= f;
                    b.low *= f;
                    b.close *= f;
                }
                b
            });
            (*tf, BarSeries::from_bars(bars).unwrap())
        })
        .collect()
}

fn assert_no_look_ahead(strategy: &Strategy, n_base: usize) {
    let spec = spec_of(strategy);
    let tfs = spec.timeframes.clone();
    let data = series(&walk(tfs[0], n_base, 7), &tfs);
    let full = spec.build(&data).unwrap();
    assert!(full.len() > 100, "{} rows", full.len());
    // Cuts at several positions inside the higher timeframes' bars.
    for offset in 0..6 {
        let cut_row = full.len() / 2 + offset;
        let cut_close = full.ts[cut_row] + tfs[0].seconds();
        let changed = spec.build(&perturb_after(&data, cut_close)).unwrap();
        for r in 0..=cut_row {
            assert_eq!(changed.ts[r], full.ts[r]);
            assert_eq!(
                changed.row(r),
                full.row(r),
                "row {r} (ts {}) changed by bars closing after {cut_close}",
                full.ts[r]
            );
        }
        // The perturbation is real: later rows do change.
        let later =
            (cut_row + 1..changed.len().min(full.len())).any(|r| changed.row(r) != full.row(r));
        assert!(later, "perturbation changed nothing after row {cut_row}");
    }
}

#[test]
fn no_feature_at_t_depends_on_a_bar_closing_after_t_15m_1h_4h() {
    assert_no_look_ahead(&shipped("rsi_mean_reversion"), 3000);
}

#[test]
fn no_feature_at_t_depends_on_a_bar_closing_after_t_1h_4h_1d() {
    // Daily bars: the intraday bars of a day never see that day's bar before it has closed.
    assert_no_look_ahead(&shipped("neuro_mean_reversion"), 24 * 60);
}

#[test]
fn a_daily_value_reaches_intraday_rows_only_after_the_day_closed() {
    let text =
        shipped_text("neuro_mean_reversion").replace("lookback_periods: 2", "lookback_periods: 0");
    let strategy = Strategy::from_yaml(&text).unwrap();
    let spec = spec_of(&strategy);
    let data = series(&walk(Timeframe::H1, 24 * 40, 3), &spec.timeframes);
    let frame = spec.build(&data).unwrap();
    let day_col = spec
        .fuzzy_features
        .iter()
        .position(|c| c == "1d_rsi_neutral")
        .unwrap();
    let daily = &data[2].1;
    let daily_rsi = ktrdr_indicators::IndicatorSpec::parse_cli("rsi:period=14")
        .unwrap()
        .indicator
        .compute(daily);
    let neutral = strategy.fuzzy_sets[0].sets[1].membership;
    for r in 0..frame.len() {
        let hour_open = frame.ts[r];
        // The daily bar whose value this hour sees: the last one closed by the hour's close.
        let day = daily
            .ts()
            .iter()
            .rposition(|&d| d + 86_400 <= hour_open + 3600)
            .unwrap();
        let expected = neutral.membership(daily_rsi.columns[0].values[day]) as f32;
        assert_eq!(frame.row(r)[day_col], expected, "hour {hour_open}");
        // Never the bar of the hour's own (unfinished) day.
        assert!(daily.ts()[day] + 86_400 <= hour_open + 3600);
    }
}

#[test]
fn warm_up_rows_are_dropped_never_filled() {
    // One timeframe: RSI(14) first exists at bar 14, two lags need bars 12..14 defined: bar 16.
    let text = shipped_text("universal_generalization_model")
        .replace("lookback_periods: 5", "lookback_periods: 2");
    let strategy = Strategy::from_yaml(&text).unwrap();
    let spec = spec_of(&strategy);
    let data = series(&walk(Timeframe::H1, 500, 11), &spec.timeframes);
    let frame = spec.build(&data).unwrap();
    // sma(20) and bbands(20) first exist at bar 19, so with 2 lags the first row is bar 21.
    assert_eq!(frame.bar_index[0], 21);
    assert_eq!(frame.bar_index.len(), 500 - 21);
    assert!(frame.values.iter().all(|v| (0.0..=1.0).contains(v)));

    // Three timeframes: the first row is the first 15m bar at which the 4h RSI is visible
    // (4h bar 14 closed), plus the two lags.
    let strategy = shipped("rsi_mean_reversion");
    let spec = spec_of(&strategy);
    let data = series(&walk(Timeframe::M15, 2000, 5), &spec.timeframes);
    let frame = spec.build(&data).unwrap();
    let four_h = &data[2].1;
    let rsi_close = four_h.ts()[14] + 4 * 3600;
    let base = &data[0].1;
    let first_visible = base
        .ts()
        .iter()
        .position(|&t| t + 900 >= rsi_close)
        .unwrap();
    assert_eq!(frame.bar_index[0], first_visible + 2);
    assert!(frame.values.iter().all(|v| v.is_finite()));
}

#[test]
fn lag_columns_hold_the_values_of_earlier_bars() {
    let strategy = shipped("rsi_mean_reversion");
    let spec = spec_of(&strategy);
    let data = series(&walk(Timeframe::M15, 1500, 9), &spec.timeframes);
    let frame = spec.build(&data).unwrap();
    let names = &spec.fuzzy_features;
    assert_eq!(names.len(), 27);
    assert_eq!(names[0], "15m_rsi_oversold");
    assert_eq!(names[8], "4h_rsi_overbought");
    assert_eq!(names[9], "15m_rsi_oversold_lag_1");
    assert_eq!(names[26], "4h_rsi_overbought_lag_2");
    let row_of = |bar: usize| frame.bar_index.iter().position(|&b| b == bar);
    let mut checked = 0;
    for r in 0..frame.len() {
        for k in 1..=2 {
            let Some(earlier) = row_of(frame.bar_index[r] - k) else {
                continue;
            };
            for c in 0..9 {
                assert_eq!(
                    frame.row(r)[9 * k + c],
                    frame.row(earlier)[c],
                    "{}",
                    names[9 * k + c]
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 2000);
}

#[test]
fn prediction_rebuilds_the_training_columns_from_features_json() {
    for name in ["rsi_mean_reversion", "universal_generalization_model"] {
        let strategy = shipped(name);
        let spec = spec_of(&strategy);
        let json = serde_json::to_value(&spec).unwrap();
        for key in [
            "model_version",
            "feature_type",
            "fuzzy_features",
            "feature_count",
            "temporal_config",
            "scaling_info",
            "feature_importance",
        ] {
            assert!(json.get(key).is_some(), "features.json lacks {key}");
        }
        assert_eq!(json["model_version"], "pure_fuzzy_v1");
        assert_eq!(json["temporal_config"]["enabled"], true);
        let stored: FeatureSpec = serde_json::from_str(&json.to_string()).unwrap();
        stored.check().unwrap();
        let data = series(&walk(spec.timeframes[0], 1200, 13), &spec.timeframes);
        let training = spec.build(&data).unwrap();
        let latest = stored.latest_rows(&data, 5).unwrap();
        assert_eq!(latest.names, training.names);
        assert_eq!(latest.len(), 5);
        for i in 0..5 {
            let r = training.len() - 5 + i;
            assert_eq!(latest.ts[i], training.ts[r]);
            assert_eq!(latest.row(i), training.row(r));
        }
    }
}

#[test]
fn a_features_json_whose_columns_do_not_match_its_inputs_is_refused() {
    let spec = spec_of(&shipped("rsi_mean_reversion"));
    let mut stored = spec.clone();
    stored.fuzzy_features.swap(0, 1);
    assert!(matches!(stored.check(), Err(FeatureError::Corrupt(_))));
    let mut stored = spec.clone();
    stored.inputs[0].sets.pop();
    assert!(matches!(stored.check(), Err(FeatureError::Corrupt(_))));
    // Building from such a spec is refused too, never computed under the wrong names.
    let data = series(&walk(Timeframe::M15, 300, 1), &spec.timeframes);
    assert!(matches!(stored.build(&data), Err(FeatureError::Corrupt(_))));
    let mut stored = spec;
    stored.timeframes.clear();
    assert!(stored.build(&data).is_err());
}

#[test]
fn a_zigzag_cannot_be_a_feature() {
    let text = shipped_text("rsi_mean_reversion")
        .replace("- name: \"macd\"", "- name: \"zz\"\n  type: zigzag\n  threshold: 0.05\n- name: \"macd\"")
        .replace("fuzzy_sets:  # Membership", "fuzzy_sets:\n  zz:\n    high:\n      type: triangular\n      parameters: [0, 100, 200]\n  # Membership");
    let checked = ktrdr_train::strategy::check_str(&text);
    let errors: Vec<&str> = checked
        .report
        .errors
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(errors, ["fuzzy_sets.zz"]);
    // A features.json naming one is refused as well.
    let mut spec = spec_of(&shipped("rsi_mean_reversion"));
    spec.inputs[0].indicator = ktrdr_indicators::IndicatorEntry {
        kind: Some("zigzag".to_owned()),
        name: Some("rsi".to_owned()),
        params: Default::default(),
    };
    assert!(matches!(spec.check(), Err(FeatureError::LooksAhead(ref n)) if n == "rsi"));
}

#[test]
fn each_symbols_rows_are_split_in_time_order() {
    let strategy = shipped("rsi_mean_reversion");
    let spec = spec_of(&strategy);
    let symbols: Vec<SymbolBars> = ["SPY", "QQQ", "EURUSD"]
        .iter()
        .enumerate()
        .map(|(i, s)| SymbolBars {
            symbol: (*s).to_owned(),
            series: series(
                &walk(Timeframe::M15, 3000 + 500 * i, 20 + i as u64),
                &spec.timeframes,
            ),
        })
        .collect();
    let ds = assemble_dataset(&spec, strategy.labels(), strategy.data_split(), &symbols).unwrap();
    assert_eq!(ds.symbols, ["SPY", "QQQ", "EURUSD"]);
    assert_eq!(ds.feature_names, spec.fuzzy_features);
    for part in [&ds.train, &ds.validation, &ds.test] {
        assert_eq!(part.features.len(), part.len() * ds.width());
        assert_eq!(part.symbol.len(), part.len());
        assert_eq!(part.ts.len(), part.len());
    }
    for s in 0..3u32 {
        let ts = |p: &ktrdr_train::dataset::Samples| -> Vec<i64> {
            p.ts.iter()
                .zip(&p.symbol)
                .filter(|(_, &x)| x == s)
                .map(|(t, _)| *t)
                .collect()
        };
        let (train, val, test) = (ts(&ds.train), ts(&ds.validation), ts(&ds.test));
        assert!(!train.is_empty() && !val.is_empty() && !test.is_empty());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        // Every train row is earlier than every validation row, earlier than every test row.
        assert!(train.last().unwrap() < val.first().unwrap());
        assert!(val.last().unwrap() < test.first().unwrap());
        let n = (train.len() + val.len() + test.len()) as f64;
        // Each part loses the bars after its own last (provisional) extreme.
        assert!(
            (test.len() as f64 / n - 0.15).abs() < 0.04,
            "{} of {n}",
            test.len()
        );
    }
    assert!(ds.train.symbol.contains(&2));
}

#[test]
fn no_train_label_depends_on_a_later_parts_prices() {
    let strategy = shipped("rsi_mean_reversion");
    let spec = spec_of(&strategy);
    let build = |base: &[ktrdr_data::types::Bar]| {
        let bars = [SymbolBars {
            symbol: "SPY".to_owned(),
            series: series(base, &spec.timeframes),
        }];
        assemble_dataset(&spec, strategy.labels(), strategy.data_split(), &bars).unwrap()
    };
    let base = walk(Timeframe::M15, 4000, 7);
    let before = build(&base);
    // A crash right after the train part ends: a train label computed over the whole series
    // would see the extreme it confirms.
    let first_validation = before.validation.ts[0];
    let mut crashed = base.clone();
    for bar in crashed.iter_mut().filter(|b| b.ts >= first_validation) {
        bar.open *= 0.5;
        bar.high *= 0.5;
        bar.low *= 0.5;
        bar.close *= 0.5;
    }
    let after = build(&crashed);
    assert_eq!(after.train, before.train);
    assert_ne!(after.validation.features, before.validation.features);
}

#[test]
fn every_shipped_strategy_builds_a_dataset() {
    let mut files: Vec<_> = std::fs::read_dir(STRATEGIES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    for path in files {
        let strategy = Strategy::load(&path).unwrap();
        let spec = spec_of(&strategy);
        assert_eq!(
            spec.feature_count,
            strategy.feature_width(spec.timeframes.len())
        );
        // Sixty days of base bars whatever the base timeframe (a daily RSI needs 15 days), and
        // at least 4,000, so each part of the split holds a confirmed swing of the walk.
        let n = ((60 * 86_400 / spec.timeframes[0].seconds()) as usize).max(4000);
        let symbols: Vec<SymbolBars> = strategy
            .symbols()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, s)| SymbolBars {
                symbol: s.as_str().to_owned(),
                series: series(
                    &walk(spec.timeframes[0], n, 100 + i as u64),
                    &spec.timeframes,
                ),
            })
            .collect();
        let ds = assemble_dataset(&spec, strategy.labels(), strategy.data_split(), &symbols)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(ds.width(), spec.feature_count);
        assert_eq!(ds.symbols.len(), symbols.len());
        assert!(!ds.train.is_empty() && !ds.validation.is_empty() && !ds.test.is_empty());
    }
}
