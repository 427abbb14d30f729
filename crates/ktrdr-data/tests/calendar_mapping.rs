//! The symbol → calendar config: defaults, user overrides, and errors that name file, line and
//! field.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;

use ktrdr_data::calendar::{Calendar, CalendarConfigError, CalendarMap, MappingRule};
use ktrdr_data::types::Symbol;

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn parse(text: &str) -> Result<CalendarMap, CalendarConfigError> {
    CalendarMap::from_toml(text, Path::new("/home/u/.ktrdr/calendars.toml"))
}

#[test]
fn config_overrides_rules_and_default() {
    let map = parse(
        "# my calendars\n\
         default = \"xnas\"\n\
         \n\
         [symbols]\n\
         XAUUSD = \"FX\"\n\
         eurusd = \"CRYPTO\"\n\
         \"BRK.B\" = \"XNYS\"\n",
    )
    .unwrap();
    assert_eq!(
        map.resolve(&sym("XAUUSD")),
        (Calendar::Fx, MappingRule::Config)
    );
    // Config beats the currency-pair rule, and keys are case-insensitive.
    assert_eq!(
        map.resolve(&sym("EURUSD")),
        (Calendar::Crypto, MappingRule::Config)
    );
    assert_eq!(
        map.resolve(&sym("brk.b")),
        (Calendar::Xnys, MappingRule::Config)
    );
    assert_eq!(
        map.resolve(&sym("GBPJPY")),
        (Calendar::Fx, MappingRule::CurrencyPair)
    );
    assert_eq!(
        map.resolve(&sym("AAPL")),
        (Calendar::Xnas, MappingRule::Default)
    );
    assert_eq!(
        map.source(),
        Some(Path::new("/home/u/.ktrdr/calendars.toml"))
    );
}

#[test]
fn empty_config_is_the_builtin_rules() {
    let map = parse("").unwrap();
    assert_eq!(map.calendar_for(&sym("MSFT")), Calendar::Xnys);
    assert_eq!(map.calendar_for(&sym("USDJPY")), Calendar::Fx);
    assert_eq!(map.calendar_for(&sym("BTCUSD")), Calendar::Crypto);
}

#[test]
fn unknown_calendar_names_line_and_field() {
    let err = parse("[symbols]\nSPY = \"XNYS\"\nQQQ = \"NASDAQ\"\n").unwrap_err();
    match &err {
        CalendarConfigError::Field { line, field, .. } => {
            assert_eq!((*line, field.as_str()), (3, "symbols.QQQ"));
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "/home/u/.ktrdr/calendars.toml:3: `symbols.QQQ`: unknown calendar `NASDAQ` \
         (known calendars: XNYS, XNAS, FX, CRYPTO)"
    );

    let err = parse("default = \"LSE\"\n").unwrap_err();
    assert!(
        matches!(&err, CalendarConfigError::Field { line: 1, field, .. } if field == "default"),
        "{err:?}"
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse("[symbols]\nSPY = XNYS\n").unwrap_err();
    match err {
        CalendarConfigError::Syntax { line, column, .. } => assert_eq!((line, column), (2, 7)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // A value of the wrong type.
    let err = parse("[symbols]\nSPY = 3\n").unwrap_err();
    assert!(
        matches!(err, CalendarConfigError::Syntax { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_keys_are_rejected() {
    let err = parse("defualt = \"XNYS\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("defualt"), "{text}");
    assert!(
        matches!(err, CalendarConfigError::Syntax { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_symbol_keys_are_rejected() {
    let err = parse("[symbols]\n\"EUR/USD\" = \"FX\"\n").unwrap_err();
    assert!(
        matches!(&err, CalendarConfigError::Field { line: 2, field, .. } if field == "symbols.EUR/USD"),
        "{err:?}"
    );
    assert!(err.to_string().contains("'/'"), "{err}");
}

#[test]
fn duplicate_symbols_after_case_folding() {
    let err = parse("[symbols]\nspy = \"XNYS\"\nSPY = \"XNAS\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("already mapped on line"), "{text}");
    assert!(matches!(err, CalendarConfigError::Field { .. }), "{err:?}");
}

#[test]
fn load_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("calendars.toml");
    assert_eq!(
        CalendarMap::load_or_builtin(&missing).unwrap(),
        CalendarMap::builtin()
    );

    std::fs::write(&missing, "[symbols]\nQQQ = \"XNAS\"\n").unwrap();
    let map = CalendarMap::load_or_builtin(&missing).unwrap();
    assert_eq!(map.calendar_for(&sym("QQQ")), Calendar::Xnas);
    assert_eq!(map.source(), Some(missing.as_path()));

    // A directory where the file should be: a read error naming the path.
    let err = CalendarMap::load_or_builtin(dir.path()).unwrap_err();
    assert!(matches!(err, CalendarConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}
