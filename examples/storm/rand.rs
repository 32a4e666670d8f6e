//! Seeded random draws for the simulator, all from the core's own `SplitMix64`, so a run is a
//! pure function of its seed (no external crate, no OS entropy).

use edge_retry::core::rng::SplitMix64;

/// Derives an independent stream seed from a master seed and a few labels (run number,
/// client count, which stream), so that changing one experiment never shifts another's draws.
pub fn derive(seed: u64, labels: &[u64]) -> u64 {
    let mut mixer = SplitMix64::new(seed);
    let mut out = mixer.next_u64();
    for &label in labels {
        mixer = SplitMix64::new(out ^ label.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        out = mixer.next_u64();
    }
    out
}

pub struct Rng {
    inner: SplitMix64,
    /// Box-Muller makes normals in pairs; the second waits here.
    spare: Option<f64>,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { inner: SplitMix64::new(seed), spare: None }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.inner.next_f64()
    }

    /// Standard normal by the Box-Muller transform.
    pub fn std_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = core::f64::consts::TAU * u2;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// |Normal(mean, sd)|, the blog's network hop.
    pub fn abs_normal(&mut self, mean: f64, sd: f64) -> f64 {
        (mean + sd * self.std_normal()).abs()
    }

    /// Exponential with the given rate (events per unit time): Poisson inter-arrival gaps.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -(1.0 - self.unit()).ln() / rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_has_the_right_moments() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.std_normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }
}
