//! Strategy files: the shipped ones load as they are; broken ones report every problem with its
//! key path.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;

use ktrdr_data::types::Timeframe;
use ktrdr_indicators::{Indicator, MembershipFunction};
use ktrdr_train::spec::{Activation, OptimizerKind};
use ktrdr_train::strategy::{self, Strategy};

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn shipped() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(STRATEGIES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_file_loads_as_it_is() {
    let files = shipped();
    assert_eq!(files.len(), 5, "{files:?}");
    for path in files {
        let checked = strategy::check_file(&path).unwrap();
        assert!(
            checked.report.errors.is_empty(),
            "{}: {:#?}",
            path.display(),
            checked.report.errors
        );
        let s = checked.strategy.unwrap();
        assert_eq!(s.name, path.file_stem().unwrap().to_str().unwrap());
        // Keys training does not act on are reported, never dropped silently.
        let noted: Vec<&str> = checked
            .report
            .notes
            .iter()
            .map(|n| n.path.as_str())
            .collect();
        for key in [
            "hypothesis",
            "scope",
            "deployment",
            "decisions",
            "training_data.history_required",
            "model.features.include_price_context",
            "model.features.scale_features",
            "model.architecture.output_activation",
        ] {
            assert!(
                noted.contains(&key),
                "{}: no note for {key}: {noted:?}",
                path.display()
            );
        }
    }
}

#[test]
fn rsi_mean_reversion_is_typed_as_written() {
    let s = Strategy::load(&Path::new(STRATEGIES).join("rsi_mean_reversion.yaml")).unwrap();
    let symbols: Vec<&str> = s.symbols().unwrap().iter().map(|s| s.as_str()).collect();
    assert_eq!(symbols, ["SPY", "QQQ", "EURUSD", "GBPUSD"]);
    assert_eq!(
        s.timeframes().unwrap(),
        [Timeframe::M15, Timeframe::H1, Timeframe::H4]
    );
    assert_eq!(
        s.training_data.as_ref().unwrap().base_timeframe,
        Timeframe::M15
    );
    assert_eq!(s.indicators.len(), 2);
    assert_eq!(s.indicators[1].spec.name, "macd");
    assert!(matches!(
        s.indicators[1].spec.indicator,
        Indicator::Macd {
            fast_period: 12,
            slow_period: 26,
            signal_period: 9,
            ..
        }
    ));
    assert_eq!(s.fuzzy_sets.len(), 1);
    let sets: Vec<&str> = s.fuzzy_sets[0]
        .sets
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(sets, ["oversold", "neutral", "overbought"]);
    assert_eq!(
        s.fuzzy_sets[0].sets[2].membership,
        MembershipFunction::Triangular {
            a: 65.0,
            b: 80.0,
            c: 100.0
        }
    );
    assert_eq!(s.architecture().hidden_layers, [50, 25]);
    assert_eq!(s.architecture().activation, Activation::Relu);
    assert_eq!(s.architecture().dropout, 0.2);
    assert_eq!(s.model.symbol_embedding_dim, 16);
    assert_eq!(s.model.lookback_periods, 2);
    let t = s.training_params();
    assert_eq!((t.learning_rate, t.batch_size, t.epochs), (0.001, 32, 100));
    assert_eq!(t.optimizer, OptimizerKind::Adam);
    // Absent: the Python system's default.
    assert_eq!(t.weight_decay, 1e-4);
    assert_eq!(t.early_stopping, None);
    assert_eq!(s.labels().zigzag_threshold, 0.03);
    assert_eq!(s.labels().label_lookahead, 20);
    assert_eq!(s.data_split().train, 0.7);
    // 3 sets x 3 timeframes x (1 + 2 lags).
    assert_eq!(s.feature_width(3), 27);
}

fn rsi_text() -> String {
    std::fs::read_to_string(Path::new(STRATEGIES).join("rsi_mean_reversion.yaml")).unwrap()
}

fn error_paths(text: &str) -> Vec<String> {
    let checked = strategy::check_str(text);
    assert!(checked.strategy.is_none());
    checked.report.errors.into_iter().map(|e| e.path).collect()
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    // Seven problems in five sections, one of them (rsx) only visible across sections.
    let text = rsi_text()
        .replace("scope: \"universal\"", "scope: \"universal\"\ncolour: blue")
        .replace("activation: \"relu\"", "activation: \"swish\"")
        .replace("    epochs: 100", "    epochs: 100\n    lr: 0.1")
        .replace("    test: 0.15", "    test: 0.5")
        .replace("  rsi:  # Fuzzy", "  rsx:  # Fuzzy")
        .replace("[65, 80, 100]", "[65, \"eighty\", 100]")
        .replace("zigzag_threshold: 0.03", "zigzag_threshold: 3");
    let checked = strategy::check_str(&text);
    let mut paths: Vec<&str> = checked
        .report
        .errors
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "colour",
            "fuzzy_sets.rsx",
            "fuzzy_sets.rsx.overbought.parameters[1]",
            "model.architecture.activation",
            "model.training.lr",
            "training.data_split",
            "training.labels.zigzag_threshold",
        ],
        "{:#?}",
        checked.report.errors
    );
    let msg = |p: &str| {
        checked
            .report
            .errors
            .iter()
            .find(|e| e.path == p)
            .unwrap()
            .message
            .clone()
    };
    assert!(
        msg("colour").contains("allowed here: name, description"),
        "{}",
        msg("colour")
    );
    assert!(msg("model.training.lr").contains("learning_rate"));
    // Each problem carries the line of its key, found by following the path through the text.
    let line = |p: &str| {
        checked
            .report
            .errors
            .iter()
            .find(|e| e.path == p)
            .unwrap()
            .line
    };
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1);
    assert_eq!(line("colour"), line_of("colour: blue"));
    assert_eq!(line("model.training.lr"), line_of("lr: 0.1"));
    assert_eq!(
        line("fuzzy_sets.rsx.overbought.parameters[1]"),
        line_of("\"eighty\"")
    );
    assert_eq!(line("training.data_split"), line_of("data_split:"));
    assert!(msg("model.architecture.activation").contains("relu, tanh, sigmoid, leaky_relu"));
}

#[test]
fn cross_section_problems_are_reported_together() {
    let text = rsi_text()
        .replace("  rsi:  # Fuzzy", "  rsx:  # Fuzzy")
        .replace("- name: \"macd\"", "- name: \"rsi\"\n  type: \"macd\"")
        .replace("  type: \"mlp\"", "  type: \"mlp\"\n  input_size: 36");
    let checked = strategy::check_str(&text);
    let paths: Vec<&str> = checked
        .report
        .errors
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        paths,
        ["indicators[1].name", "fuzzy_sets.rsx", "model.input_size"],
        "{:#?}",
        checked.report.errors
    );
    assert!(checked.report.errors[2]
        .message
        .contains("27 feature columns"));
}

#[test]
fn indicators_and_fuzzy_parameters_are_checked_by_the_registry() {
    let text = rsi_text()
        .replace("  period: 14  # Lookback", "  period: 0  # Lookback")
        .replace(
            "  slow_period: 26",
            "  slow_period: 26\n  slowest_period: 50",
        )
        .replace("  signal_period: 9", "  signal_period: -9")
        .replace("[30, 50, 70]", "[70, 50, 30]");
    let checked = strategy::check_str(&text);
    let errors: Vec<(&str, &str)> = checked
        .report
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    // Every bad parameter of one entry, not only the first the registry meets.
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_eq!(errors[0].0, "indicators[0].period");
    assert_eq!(errors[1].0, "indicators[1].signal_period");
    assert_eq!(errors[2].0, "indicators[1].slowest_period");
    assert!(errors[2].1.contains("slow_period"), "{}", errors[2].1);
    assert_eq!(errors[3].0, "fuzzy_sets.rsi.neutral.parameters");
    // A parameter that is wrong only with the others is reported once, on the entry.
    let text = rsi_text().replace("fast_period: 12", "fast_period: 30");
    assert_eq!(error_paths(&text), ["indicators[1]"]);
    // An unknown indicator is refused, not skipped as the Python system did.
    let text = rsi_text().replace("- name: \"macd\"", "- name: \"macd\"\n  type: \"macdx\"");
    assert_eq!(error_paths(&text), ["indicators[1].type"]);
    let text = rsi_text().replace("- name: \"macd\"", "- name: \"momentum_x\"");
    assert_eq!(error_paths(&text), ["indicators[1].name"]);
}

#[test]
fn the_network_and_training_params_convert_to_the_trainers_types() {
    let s =
        Strategy::load(&Path::new(STRATEGIES).join("universal_generalization_model.yaml")).unwrap();
    let mlp = s.mlp_spec(s.feature_width(1), 2);
    // rsi, sma and BollingerBands, 3 sets each, on 1 timeframe, with 5 lags.
    assert_eq!(mlp.input_size, 9 * 6);
    assert_eq!(mlp.hidden_layers, [128, 64, 32]);
    assert_eq!(mlp.symbol_embedding_dim, 16);
    assert_eq!(mlp.dropout, 0.2);
    mlp.validate().unwrap();
    let t = s.training_params();
    assert_eq!((t.batch_size, t.epochs), (64, 40));
    t.validate().unwrap();
}

#[test]
fn a_base_timeframe_other_than_the_shortest_is_refused() {
    let text = rsi_text().replace("base_timeframe: \"15m\"", "base_timeframe: \"1h\"");
    assert_eq!(
        error_paths(&text),
        ["training_data.timeframes.base_timeframe"]
    );
    let text = rsi_text().replace("- \"4h\"  # Selected", "- \"3h\"  # Selected");
    assert_eq!(error_paths(&text), ["training_data.timeframes.list[2]"]);
}

#[test]
fn yaml_syntax_errors_carry_their_line() {
    let text = "name: x\nversion: \"2.0\"\nindicators: [\n  - {name: rsi\nmodel: {}\n";
    let checked = strategy::check_str(text);
    assert_eq!(checked.report.errors.len(), 1);
    let line = checked.report.errors[0].line;
    assert!(matches!(line, Some(4..=5)), "{:?}", checked.report.errors);
    // A key given twice is a syntax error too, not a silent overwrite.
    let text = rsi_text().replace("name: \"rsi_mean_reversion\"", "name: a\nname: b");
    let checked = strategy::check_str(&text);
    assert_eq!(
        checked.report.errors.len(),
        1,
        "{:?}",
        checked.report.errors
    );
    assert!(checked.report.errors[0]
        .message
        .contains("duplicate entry with key \"name\""));
    assert!(checked.report.errors[0].line.is_some());
}

#[test]
fn missing_required_sections_are_each_named() {
    let paths = error_paths("name: x\nversion: \"2.0\"\n");
    assert_eq!(paths, ["indicators", "fuzzy_sets", "model", "training"]);
    let paths = error_paths("[1, 2]");
    assert_eq!(paths, [""]);
}

#[test]
fn load_lists_every_error_in_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "name: x\nversion: \"3.0\"\n").unwrap();
    let err = Strategy::load(&path).unwrap_err().to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(
        err.contains("version (line 2): format version \"3.0\" is not supported"),
        "{err}"
    );
    assert!(err.contains("training: required key is missing"), "{err}");
}
