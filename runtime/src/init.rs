//! Deterministic initialisation: a small seeded generator and Keras'
//! default initializers.

use crate::Float;
use nalgebra::SMatrix;

/// SplitMix64: a 64-bit generator with good statistical quality, tiny state
/// and no dependencies, so initialisation is reproducible on every target.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
    }

    /// Fills `out` uniformly in `[-limit, limit]`, `limit = sqrt(6 / (fan_in + fan_out))`
    /// (Keras' `glorot_uniform`).
    pub fn glorot_uniform<T: Float>(&mut self, out: &mut [T], fan_in: usize, fan_out: usize) {
        let limit = libm::sqrt(6.0 / (fan_in + fan_out).max(1) as f64);
        for v in out.iter_mut() {
            *v = T::of_f64((2.0 * self.uniform() - 1.0) * limit);
        }
    }

    /// Makes `m` (`R × C`) orthogonal as Keras' `Orthogonal` initializer
    /// does: a standard normal matrix whose columns (if `R ≥ C`) or rows
    /// (if `R < C`) are orthonormalised (Gram–Schmidt, run twice for
    /// accuracy).
    pub fn orthogonal<T: Float, const R: usize, const C: usize>(
        &mut self,
        m: &mut SMatrix<T, R, C>,
    ) {
        for v in m.as_mut_slice().iter_mut() {
            *v = T::of_f64(self.normal());
        }
        if R >= C {
            for j in 0..C {
                for _pass in 0..2 {
                    for k in 0..j {
                        let mut dot = T::zero();
                        for i in 0..R {
                            dot += m[(i, j)] * m[(i, k)];
                        }
                        for i in 0..R {
                            let mk = m[(i, k)];
                            m[(i, j)] -= dot * mk;
                        }
                    }
                }
                let mut norm = T::zero();
                for i in 0..R {
                    norm += m[(i, j)] * m[(i, j)];
                }
                let inv = T::one() / norm.sqrt();
                for i in 0..R {
                    m[(i, j)] *= inv;
                }
            }
        } else {
            for j in 0..R {
                for _pass in 0..2 {
                    for k in 0..j {
                        let mut dot = T::zero();
                        for i in 0..C {
                            dot += m[(j, i)] * m[(k, i)];
                        }
                        for i in 0..C {
                            let mk = m[(k, i)];
                            m[(j, i)] -= dot * mk;
                        }
                    }
                }
                let mut norm = T::zero();
                for i in 0..C {
                    norm += m[(j, i)] * m[(j, i)];
                }
                let inv = T::one() / norm.sqrt();
                for i in 0..C {
                    m[(j, i)] *= inv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let mut rng = Rng::new(7);
        let mut m = SMatrix::<f64, 12, 3>::zeros();
        rng.orthogonal(&mut m);
        let g = m.transpose() * m;
        assert!((g - SMatrix::<f64, 3, 3>::identity()).abs().max() < 1e-12);
        let mut w = SMatrix::<f64, 3, 12>::zeros();
        rng.orthogonal(&mut w);
        let g = w * w.transpose();
        assert!((g - SMatrix::<f64, 3, 3>::identity()).abs().max() < 1e-12);
    }

    #[test]
    fn glorot_stays_within_limit_and_is_deterministic() {
        let mut a = [0f32; 300];
        let mut b = [0f32; 300];
        Rng::new(1).glorot_uniform(&mut a, 10, 20);
        Rng::new(1).glorot_uniform(&mut b, 10, 20);
        assert_eq!(a, b);
        let limit = (6.0f32 / 30.0).sqrt();
        assert!(a.iter().all(|v| v.abs() <= limit));
        // A uniform sample of 300 reaches past 80% of the limit somewhere.
        assert!(a.iter().any(|v| v.abs() > 0.8 * limit));
    }
}
