//! The one seeded mixer of the workspace: reproducible pseudo-randomness as a pure function of
//! a key, without an RNG's state (retry jitter, the simulated market).

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective mix of a 64-bit key
/// with full avalanche. Fixed here, so what is drawn from it (retry jitter, the simulated
/// market) does not change when a dependency is upgraded.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in `[0, 1)` from the top 53 bits of `x`.
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_spans_zero_to_one_and_mix_spreads_neighbours() {
        assert_eq!(unit(0), 0.0);
        assert!(unit(u64::MAX) < 1.0);
        assert_ne!(mix(1) >> 32, mix(2) >> 32);
    }
}
