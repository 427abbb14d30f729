//! Fuzzy membership functions (triangular, trapezoidal, gaussian), validated at construction.

/// A membership function mapping a value to a degree in `[0, 1]`.
///
/// A triangle is a trapezoid whose top is one point, and both are evaluated by one code path:
/// `x == b == c` gives 1 (the Python system's vectorised path gave 0 there, its scalar path 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "MembershipConfig", into = "MembershipConfig")]
pub enum MembershipFunction {
    /// `[a, b, c]`: 0 at or outside `a` and `c`, 1 at `b`, linear between.
    Triangular {
        /// Left foot.
        a: f64,
        /// Peak.
        b: f64,
        /// Right foot.
        c: f64,
    },
    /// `[a, b, c, d]`: 0 at or outside `a` and `d`, 1 on `[b, c]`, linear between.
    Trapezoidal {
        /// Left foot.
        a: f64,
        /// Left shoulder.
        b: f64,
        /// Right shoulder.
        c: f64,
        /// Right foot.
        d: f64,
    },
    /// `exp(−½((x − μ)/σ)²)`.
    Gaussian {
        /// Centre.
        mu: f64,
        /// Width, > 0.
        sigma: f64,
    },
}

/// Why a membership function was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FuzzyError {
    /// A `type` other than triangular, trapezoidal, gaussian.
    #[error(
        "unknown membership function type {0:?}; expected triangular, trapezoidal or gaussian"
    )]
    UnknownType(String),
    /// The wrong number of parameters for the type.
    #[error("{kind} takes {expected} parameters ({names}), got {got}")]
    Arity {
        /// The function type.
        kind: &'static str,
        /// How many it takes.
        expected: usize,
        /// Their names.
        names: &'static str,
        /// How many were given.
        got: usize,
    },
    /// A NaN or infinite parameter.
    #[error("{kind} parameter {index} is {value}; parameters must be finite")]
    NotFinite {
        /// The function type.
        kind: &'static str,
        /// Its position (0-based).
        index: usize,
        /// The value.
        value: f64,
    },
    /// Parameters out of order.
    #[error("{kind} parameters {params:?} must be in non-decreasing order ({names})")]
    Unordered {
        /// The function type.
        kind: &'static str,
        /// As given.
        params: Vec<f64>,
        /// The order required.
        names: &'static str,
    },
    /// σ ≤ 0.
    #[error("gaussian sigma is {0}; it must be greater than 0")]
    Sigma(f64),
}

impl MembershipFunction {
    /// Builds a function from a strategy file's `type` and `parameters`.
    pub fn new(kind: &str, params: &[f64]) -> Result<Self, FuzzyError> {
        match kind.to_ascii_lowercase().as_str() {
            "triangular" => {
                let [a, b, c] = ordered("triangular", "a ≤ b ≤ c", params)?;
                Ok(MembershipFunction::Triangular { a, b, c })
            }
            "trapezoidal" => {
                let [a, b, c, d] = ordered("trapezoidal", "a ≤ b ≤ c ≤ d", params)?;
                Ok(MembershipFunction::Trapezoidal { a, b, c, d })
            }
            "gaussian" => {
                let [mu, sigma] = finite::<2>("gaussian", "mu, sigma", params)?;
                if sigma <= 0.0 {
                    return Err(FuzzyError::Sigma(sigma));
                }
                Ok(MembershipFunction::Gaussian { mu, sigma })
            }
            _ => Err(FuzzyError::UnknownType(kind.to_owned())),
        }
    }

    /// The degree of membership of `x`; NaN for NaN.
    pub fn membership(&self, x: f64) -> f64 {
        match *self {
            MembershipFunction::Triangular { a, b, c } => trapezoid(x, a, b, b, c),
            MembershipFunction::Trapezoidal { a, b, c, d } => trapezoid(x, a, b, c, d),
            MembershipFunction::Gaussian { mu, sigma } => {
                let z = (x - mu) / sigma;
                (-0.5 * z * z).exp()
            }
        }
    }

    /// [`membership`](Self::membership) of every value.
    pub fn apply(&self, xs: &[f64]) -> Vec<f64> {
        xs.iter().map(|&x| self.membership(x)).collect()
    }

    /// The strategy-file name of the function's type.
    pub fn kind(&self) -> &'static str {
        match self {
            MembershipFunction::Triangular { .. } => "triangular",
            MembershipFunction::Trapezoidal { .. } => "trapezoidal",
            MembershipFunction::Gaussian { .. } => "gaussian",
        }
    }

    /// The parameters in strategy-file order.
    pub fn parameters(&self) -> Vec<f64> {
        match *self {
            MembershipFunction::Triangular { a, b, c } => vec![a, b, c],
            MembershipFunction::Trapezoidal { a, b, c, d } => vec![a, b, c, d],
            MembershipFunction::Gaussian { mu, sigma } => vec![mu, sigma],
        }
    }
}

/// 1 on `[b, c]` (checked first, so a degenerate side still peaks at 1), 0 at or beyond the
/// feet, linear ramps between. The ramp branches only run when their side has width.
fn trapezoid(x: f64, a: f64, b: f64, c: f64, d: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if b <= x && x <= c {
        1.0
    } else if x <= a || x >= d {
        0.0
    } else if x < b {
        (x - a) / (b - a)
    } else {
        (d - x) / (d - c)
    }
}

/// The strategy-file form: `{type, parameters}`.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipConfig {
    #[serde(rename = "type")]
    kind: String,
    parameters: Vec<f64>,
}

impl TryFrom<MembershipConfig> for MembershipFunction {
    type Error = FuzzyError;
    fn try_from(c: MembershipConfig) -> Result<Self, FuzzyError> {
        MembershipFunction::new(&c.kind, &c.parameters)
    }
}

impl From<MembershipFunction> for MembershipConfig {
    fn from(f: MembershipFunction) -> Self {
        MembershipConfig {
            kind: f.kind().to_owned(),
            parameters: f.parameters(),
        }
    }
}

fn finite<const N: usize>(
    kind: &'static str,
    names: &'static str,
    params: &[f64],
) -> Result<[f64; N], FuzzyError> {
    let arr: [f64; N] = params.try_into().map_err(|_| FuzzyError::Arity {
        kind,
        expected: N,
        names,
        got: params.len(),
    })?;
    if let Some((index, &value)) = arr.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(FuzzyError::NotFinite { kind, index, value });
    }
    Ok(arr)
}

fn ordered<const N: usize>(
    kind: &'static str,
    names: &'static str,
    params: &[f64],
) -> Result<[f64; N], FuzzyError> {
    let arr = finite::<N>(kind, names, params)?;
    if arr.windows(2).any(|w| w[0] > w[1]) {
        return Err(FuzzyError::Unordered {
            kind,
            params: params.to_vec(),
            names,
        });
    }
    Ok(arr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tri(a: f64, b: f64, c: f64) -> MembershipFunction {
        MembershipFunction::new("triangular", &[a, b, c]).unwrap()
    }

    #[test]
    fn triangular_edges() {
        let f = tri(0.0, 20.0, 35.0);
        for (x, mu) in [
            (-5.0, 0.0),
            (0.0, 0.0),
            (10.0, 0.5),
            (20.0, 1.0),
            (27.5, 0.5),
            (35.0, 0.0),
            (99.0, 0.0),
        ] {
            assert_eq!(f.membership(x), mu, "x = {x}");
        }
        assert!(f.membership(f64::NAN).is_nan());
    }

    #[test]
    fn degenerate_triangles_peak_at_one() {
        // x == b == c: 1, on one code path (the Python numpy path gave 0).
        let right = tri(65.0, 100.0, 100.0);
        assert_eq!(right.membership(100.0), 1.0);
        assert_eq!(right.membership(82.5), 0.5);
        assert_eq!(right.membership(100.5), 0.0);
        let left = tri(0.0, 0.0, 20.0);
        assert_eq!(left.membership(0.0), 1.0);
        assert_eq!(left.membership(10.0), 0.5);
        assert_eq!(left.membership(-0.1), 0.0);
        let point = tri(5.0, 5.0, 5.0);
        assert_eq!(point.apply(&[4.9, 5.0, 5.1]), [0.0, 1.0, 0.0]);
    }

    #[test]
    fn trapezoidal_edges() {
        let f = MembershipFunction::new("Trapezoidal", &[0.0, 10.0, 20.0, 40.0]).unwrap();
        for (x, mu) in [
            (-1.0, 0.0),
            (0.0, 0.0),
            (5.0, 0.5),
            (10.0, 1.0),
            (15.0, 1.0),
            (20.0, 1.0),
            (30.0, 0.5),
            (40.0, 0.0),
            (41.0, 0.0),
        ] {
            assert_eq!(f.membership(x), mu, "x = {x}");
        }
        assert!(f.membership(f64::NAN).is_nan());
    }

    #[test]
    fn gaussian_values() {
        let f = MembershipFunction::new("gaussian", &[50.0, 10.0]).unwrap();
        assert_eq!(f.membership(50.0), 1.0);
        assert!((f.membership(60.0) - (-0.5f64).exp()).abs() < 1e-15);
        assert!((f.membership(30.0) - (-2.0f64).exp()).abs() < 1e-15);
        assert!(f.membership(f64::NAN).is_nan());
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_problem() {
        let err = |k: &str, p: &[f64]| MembershipFunction::new(k, p).unwrap_err();
        assert!(matches!(
            err("triangular", &[1.0, 2.0]),
            FuzzyError::Arity {
                expected: 3,
                got: 2,
                ..
            }
        ));
        assert!(matches!(
            err("triangular", &[3.0, 2.0, 4.0]),
            FuzzyError::Unordered { .. }
        ));
        assert!(matches!(
            err("trapezoidal", &[0.0, 1.0, 3.0, 2.0]),
            FuzzyError::Unordered { .. }
        ));
        assert!(matches!(
            err("triangular", &[0.0, f64::NAN, 1.0]),
            FuzzyError::NotFinite { index: 1, .. }
        ));
        assert!(matches!(err("gaussian", &[0.0, 0.0]), FuzzyError::Sigma(_)));
        assert!(matches!(
            err("gaussian", &[0.0, -1.0]),
            FuzzyError::Sigma(_)
        ));
        assert!(matches!(
            err("gaussian", &[f64::INFINITY, 1.0]),
            FuzzyError::NotFinite { index: 0, .. }
        ));
        assert!(matches!(err("bell", &[0.0]), FuzzyError::UnknownType(_)));
        assert!(err("triangular", &[3.0, 2.0, 4.0])
            .to_string()
            .contains("a ≤ b ≤ c"));
    }

    #[test]
    fn deserialises_from_the_strategy_file_form() {
        let f: MembershipFunction =
            serde_json::from_str(r#"{"type": "triangular", "parameters": [0, 20, 35]}"#).unwrap();
        assert_eq!(f, tri(0.0, 20.0, 35.0));
        let e = serde_json::from_str::<MembershipFunction>(
            r#"{"type": "triangular", "parameters": [9, 2, 3]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("non-decreasing"), "{e}");
    }
}
