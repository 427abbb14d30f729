//! Counter-based randomness: every random number the simulator uses is a pure function of a
//! key (symbol, timeframe, date, bar index, …), so a bar is the same whichever request asks for
//! it, and nothing depends on the order requests arrive in. The kernel's one seeded mixer
//! ([`ktrdr_ops::mix::mix`], SplitMix64's finaliser) mixes the key; FNV-1a hashes symbols.
//! Both are fixed, so the simulated market does not change when a dependency is upgraded.

use ktrdr_ops::mix::mix;

/// Hashes a sequence of words into one key.
pub(crate) fn key(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3, |h, &p| mix(h ^ p))
}

/// FNV-1a of a string (stable across platforms and releases, unlike `std`'s hasher).
pub(crate) fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// A uniform number in the open interval (0, 1).
pub(crate) fn uniform(k: u64) -> f64 {
    ((mix(k) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal number (Box–Muller on two uniforms derived from `k`).
pub(crate) fn normal(k: u64) -> f64 {
    let u1 = uniform(k);
    let u2 = uniform(k ^ 0x5DEE_CE66_D1CE_4E5B);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_variance_and_zero_mean() {
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| normal(key(&[7, i]))).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        let u: Vec<f64> = (0..n).map(|i| uniform(key(&[8, i]))).collect();
        assert!(u.iter().all(|&x| x > 0.0 && x < 1.0));
    }
}
