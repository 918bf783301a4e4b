//! Peeking, simulated: 2,000 A/A experiments (both arms convert at 10 %), each read at 20
//! looks, 50 more exposures an arm between looks. Stopping at the first look where the
//! always-valid p (sequential mode, τ = 0.05) drops below alpha must keep the
//! false-positive rate at alpha (within three standard errors of the simulation); the
//! fixed-horizon p-value read the same way must not (it comes out near 20 %). Through
//! [`analyze`], the public API. Deterministic: SplitMix64 with a fixed seed.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use qualify_engine::experiment::stats::{analyze, ArmCounts, Counts, Settings};

const EXPERIMENTS: usize = 2_000;
const LOOKS: usize = 20;
const PER_LOOK: u64 = 50;
const RATE: f64 = 0.1;
const ALPHA: f64 = 0.05;

/// SplitMix64 (Steele, Lea and Flood 2014): small, fast, good enough for Bernoulli draws.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn conversions(&mut self, exposures: u64, rate: f64) -> u64 {
        (0..exposures).filter(|_| self.next_f64() < rate).count() as u64
    }
}

fn arm(name: &str, n: u64, conversions: u64) -> ArmCounts {
    ArmCounts {
        name: name.to_string(),
        weight: 1.0,
        n,
        conversions: Some(conversions),
        mean: None,
        sd: None,
    }
}

#[test]
fn always_valid_p_survives_peeking_and_the_fixed_horizon_p_does_not() {
    let settings = Settings {
        alpha: ALPHA,
        min_sample: 0,
        sequential_tau: Some(0.05),
        ..Settings::default()
    };
    let mut rng = SplitMix64(0x0005_EED0_FA11_CE00);
    let (mut sequential_hits, mut fixed_hits) = (0usize, 0usize);
    for _ in 0..EXPERIMENTS {
        let (mut n, mut xa, mut xb) = (0u64, 0u64, 0u64);
        let (mut sequential_hit, mut fixed_hit) = (false, false);
        for _ in 0..LOOKS {
            n += PER_LOOK;
            xa += rng.conversions(PER_LOOK, RATE);
            xb += rng.conversions(PER_LOOK, RATE);
            let counts = Counts {
                variants: vec![arm("a", n, xa), arm("b", n, xb)],
            };
            let b = analyze(&counts, &settings).unwrap().variants.swap_remove(1);
            // In sequential mode `significant` is read from the always-valid p.
            assert_eq!(
                b.significant,
                b.always_valid_p.is_some_and(|p| p < ALPHA),
                "{b:?}"
            );
            sequential_hit |= b.significant;
            fixed_hit |= b.p_value.is_some_and(|p| p < ALPHA);
        }
        sequential_hits += usize::from(sequential_hit);
        fixed_hits += usize::from(fixed_hit);
    }
    let sequential_rate = sequential_hits as f64 / EXPERIMENTS as f64;
    let fixed_rate = fixed_hits as f64 / EXPERIMENTS as f64;
    let bound = ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / EXPERIMENTS as f64).sqrt();
    eprintln!(
        "false positives over {LOOKS} looks: always-valid {sequential_rate:.4} (bound {bound:.4}), \
         fixed horizon {fixed_rate:.4}"
    );
    assert!(
        sequential_rate <= bound,
        "always-valid p: {sequential_rate} of A/A experiments declared a difference (bound {bound})"
    );
    assert!(
        fixed_rate > ALPHA,
        "fixed-horizon p peeked {LOOKS} times: {fixed_rate}, expected well above {ALPHA}"
    );
}
