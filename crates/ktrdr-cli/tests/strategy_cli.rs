//! `ktrdr strategy validate`: the shipped strategy files are valid; broken ones are reported
//! problem by problem with their key paths, and the exit status says whether any file failed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STRATEGIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies"
);

fn ktrdr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .env("RUST_LOG", "error")
        .args(args)
        .output()
        .unwrap()
}

fn shipped() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(STRATEGIES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn broken(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(STRATEGIES).join("rsi_mean_reversion.yaml"))
        .unwrap()
        .replace("activation: \"relu\"", "activation: \"swish\"")
        .replace("  rsi:  # Fuzzy", "  rsx:  # Fuzzy")
        .replace("    epochs: 100", "    epochs: 100\n    lr: 0.1");
    let path = dir.join("broken.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_five_shipped_files_are_valid() {
    let files = shipped();
    assert_eq!(files.len(), 5);
    let args: Vec<&str> = ["strategy", "validate"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = ktrdr(&args);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches(": valid (0 errors,").count(), 5, "{text}");
    assert!(
        text.contains("  note: deployment (line 29): accepted; not used by training"),
        "{text}"
    );
}

#[test]
fn a_broken_file_lists_every_error_by_path_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = broken(dir.path());
    let good = Path::new(STRATEGIES).join("crypto_scalping.yaml");
    let out = ktrdr(&[
        "strategy",
        "validate",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("crypto_scalping.yaml: valid"), "{text}");
    assert!(text.contains("broken.yaml: INVALID (3 errors,"), "{text}");
    for line in [
        "  error: model.architecture.activation (line 68): \"swish\" is not allowed; allowed: relu, tanh, sigmoid, leaky_relu",
        "  error: model.training.lr (line 79): unknown key; allowed here: learning_rate,",
        "  error: fuzzy_sets.rsx (line 52): no indicator is named \"rsx\"; indicators: rsi, macd",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 2 strategy files has errors"), "{err}");
}

#[test]
fn a_yaml_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syntax.yaml");
    // Line 3 opens a block list inside the flow list of line 2.
    std::fs::write(&path, "name: x\nindicators: [\n  - {name: rsi\n").unwrap();
    let out = ktrdr(&["strategy", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = format!("  error: {}:3: not valid YAML", path.display());
    assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
}

#[test]
fn json_output_has_one_entry_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = broken(dir.path());
    let missing = dir.path().join("missing.yaml");
    let good = Path::new(STRATEGIES).join("rsi_mean_reversion.yaml");
    let out = ktrdr(&[
        "strategy",
        "validate",
        "--json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = doc.as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["valid"], true);
    assert!(files[0]["notes"].as_array().unwrap().len() >= 8);
    assert_eq!(files[1]["valid"], false);
    let paths: Vec<&str> = files[1]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "model.architecture.activation",
            "model.training.lr",
            "fuzzy_sets.rsx"
        ]
    );
    assert_eq!(files[1]["errors"][0]["line"], 68);
    assert_eq!(files[2]["valid"], false);
    let msg = files[2]["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("cannot read strategy file"), "{msg}");
}
