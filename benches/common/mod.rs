//! What the benchmarks share: a criterion measurement of the benchmark
//! thread's CPU time.

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::time::Duration;

/// CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`): on the
/// shared 2-core development machines wall time mostly counts other
/// processes' turns on the core, and varied 2x between runs where CPU time
/// varied about 10%.
pub struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = ThreadTime;
    type Value = Duration;
    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, printed as criterion prints durations.
        WallTime.formatter()
    }
}
