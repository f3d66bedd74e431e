//! What both Cortex-M test binaries share: the instruction-count markers
//! (tools/qemu-insn/insncount.c counts between them), a minimal
//! safetensors reader for the fixtures compiled in with `include_bytes!`,
//! the checks with their self-test switch, and the exit through
//! semihosting (also on a panic).

use core::cell::Cell;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use cortex_m_semihosting::{debug, hprintln};

/// The tolerance of the issues: f32 within 1e-5 of the reference
/// (relative above magnitude 1).
pub const TOL: f64 = 1e-5;

// ---- instruction-count markers -------------------------------------------

/// Written by the markers so that they are two different functions; the
/// `black_box` (an optimisation barrier) keeps them and their calls from
/// being removed as side-effect free.
static MARK: AtomicU32 = AtomicU32::new(0);
/// The next region's number.
static REGION: AtomicU32 = AtomicU32::new(0);

/// Adds one to `counter`, returning the old value. A load and a store, not
/// `fetch_add`: thumbv6m has no read-modify-write atomics, and this test
/// runs on one core without interrupts.
pub fn bump(counter: &AtomicU32) -> u32 {
    let v = counter.load(Ordering::Relaxed);
    counter.store(v + 1, Ordering::Relaxed);
    v
}

/// Start of a counted region (its address is the plugin's `begin`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn sn_count_begin() {
    MARK.store(black_box(1), Ordering::SeqCst);
}

/// End of a counted region (its address is the plugin's `end`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn sn_count_end() {
    MARK.store(black_box(2), Ordering::SeqCst);
}

/// Runs `f` between the markers, announcing it as region `name`.
pub fn counted<R>(name: &str, f: impl FnOnce() -> R) -> R {
    hprintln!("count {} {}", bump(&REGION), name);
    sn_count_begin();
    let r = black_box(f());
    sn_count_end();
    r
}

// ---- a minimal safetensors reader ----------------------------------------

/// The raw little-endian F64 data of tensor `prefix` + `name` of a
/// safetensors file (u64 header length, JSON header, data), or `None` if it
/// is missing, not F64 or out of the file.
pub fn tensor<'a>(file: &'a [u8], prefix: &str, name: &str) -> Option<&'a [u8]> {
    let n = usize::try_from(u64::from_le_bytes(*file.first_chunk::<8>()?)).ok()?;
    let header = core::str::from_utf8(file.get(8..8usize.checked_add(n)?)?).ok()?;
    let data = file.get(8 + n..)?;
    // The entry `"name":{...}`.
    let mut rest = header;
    let entry = loop {
        let at = rest.find('"')?;
        let after = &rest[at + 1..];
        if let Some(tail) = after
            .strip_prefix(prefix)
            .and_then(|t| t.strip_prefix(name))
        {
            if let Some(body) = tail.strip_prefix("\":{") {
                break &body[..body.find('}')?];
            }
        }
        rest = after;
    };
    if !entry.contains("\"dtype\":\"F64\"") {
        return None;
    }
    let offsets = entry.split("\"data_offsets\":[").nth(1)?;
    let offsets = &offsets[..offsets.find(']')?];
    let (begin, end) = offsets.split_once(',')?;
    let begin: usize = begin.trim().parse().ok()?;
    let end: usize = end.trim().parse().ok()?;
    data.get(begin..end)
}

/// The values of tensor `prefix` + `name` (none if it is missing, NaN for a
/// short final chunk).
pub fn values<'a>(file: &'a [u8], prefix: &str, name: &str) -> impl Iterator<Item = f64> + 'a {
    tensor(file, prefix, name)
        .unwrap_or(&[])
        .chunks(8)
        .map(|c| {
            c.first_chunk::<8>()
                .map_or(f64::NAN, |b| f64::from_le_bytes(*b))
        })
}

// ---- checks ----------------------------------------------------------------

/// Set in the self-test: every expected value is moved by 1e-4.
pub static BREAK: AtomicBool = AtomicBool::new(false);

/// `true` if the semihosting command line has the word `break`.
pub fn self_test_requested() -> bool {
    let mut buf = [0u8; 128];
    // SYS_GET_CMDLINE: a block {buffer address, length}; the host writes at
    // most `length` bytes (with a NUL) into the buffer and the length used
    // into the block's second word (a `Cell`, so writing it through the
    // shared reference is allowed).
    let block = [Cell::new(buf.as_mut_ptr() as usize), Cell::new(buf.len())];
    // SAFETY: the block is valid for the call and points to `buf`, which is
    // writable for its whole length, is not otherwise borrowed meanwhile,
    // and outlives the call.
    let rc =
        unsafe { cortex_m_semihosting::syscall(cortex_m_semihosting::nr::GET_CMDLINE, &block) };
    let len = block[1].get().min(buf.len());
    rc == 0
        && core::str::from_utf8(&buf[..len])
            .is_ok_and(|s| s.split([' ', '\0']).any(|w| w == "break"))
}

/// Failed checks so far.
pub static FAILURES: AtomicU32 = AtomicU32::new(0);

/// Compares `got` with the reference `want` value by value; one line per check
/// (its largest scaled error), and the first difference on failure. Fails
/// on a length mismatch or an empty tensor too.
pub fn check(
    what: (&str, &str),
    got: impl IntoIterator<Item = f64>,
    want: impl IntoIterator<Item = f64>,
) {
    let shift = if BREAK.load(Ordering::Relaxed) {
        1e-4
    } else {
        0.0
    };
    let (mut got, mut want) = (got.into_iter(), want.into_iter().map(|w| w + shift));
    let (mut n, mut worst, mut first_bad) = (0usize, 0f64, None);
    loop {
        match (got.next(), want.next()) {
            (Some(g), Some(w)) => {
                let err = (g - w).abs() / w.abs().max(1.0);
                if (err.is_nan() || err > TOL) && first_bad.is_none() {
                    first_bad = Some((n, g, w));
                }
                if err > worst {
                    worst = err;
                }
                n += 1;
            }
            (None, None) => break,
            _ => {
                hprintln!(
                    "FAIL {}{}: lengths differ (after {} values)",
                    what.0,
                    what.1,
                    n
                );
                bump(&FAILURES);
                return;
            }
        }
    }
    if n == 0 {
        hprintln!(
            "FAIL {}{}: no values (missing fixture tensor?)",
            what.0,
            what.1
        );
        bump(&FAILURES);
    } else if let Some((i, g, w)) = first_bad {
        hprintln!(
            "FAIL {}{}: [{}] = {:e}, expected {:e}",
            what.0,
            what.1,
            i,
            g,
            w
        );
        bump(&FAILURES);
    } else {
        hprintln!(
            "ok   {}{}: {} values, max error {:e}",
            what.0,
            what.1,
            n,
            worst
        );
    }
}

/// Reports the checks' outcome and exits through semihosting: status 0
/// only if every check passed.
pub fn finish() -> ! {
    let failures = FAILURES.load(Ordering::Relaxed);
    if failures == 0 {
        hprintln!("all checks passed");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("{} check(s) FAILED", failures);
        debug::exit(debug::EXIT_FAILURE);
    }
    halt()
}

/// Where a real board without a debugger attached ends up after the exit
/// request (QEMU stops at it).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// A panic is a failed test: report it and exit non-zero.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("FAIL panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}
