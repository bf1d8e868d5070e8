//! Expected faults: a self-test touches memory that must fault (a write to rodata, an
//! instruction fetch from data) through small assembly probes. Before a probe the test
//! names where execution resumes if the access faults; the arch's trap handler, seeing a
//! fault while a resume point is set, records the fault and returns there instead of
//! reporting an unexpected exception.

use core::sync::atomic::{AtomicU64, Ordering};

static FIXUP: AtomicU64 = AtomicU64::new(0);
static CAUSE: AtomicU64 = AtomicU64::new(0);
static ADDR: AtomicU64 = AtomicU64::new(0);

/// What a caught fault reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The arch's cause (x86 error code, arm64 ESR, riscv scause).
    pub cause: u64,
    /// The faulting address the CPU reported (CR2, FAR, stval).
    pub addr: u64,
}

/// Arm the resume point `fixup` for the next fault.
pub fn arm(fixup: u64) {
    CAUSE.store(0, Ordering::SeqCst);
    ADDR.store(0, Ordering::SeqCst);
    FIXUP.store(fixup, Ordering::SeqCst);
}

/// Disarm; the fault caught since [`arm`], if any.
pub fn disarm() -> Option<Fault> {
    let pending = FIXUP.swap(0, Ordering::SeqCst);
    (pending == 0).then(|| Fault { cause: CAUSE.load(Ordering::SeqCst), addr: ADDR.load(Ordering::SeqCst) })
}

/// For the trap handler: if a probe is armed, record the fault and return where to resume.
pub fn catch(cause: u64, addr: u64) -> Option<u64> {
    let fixup = FIXUP.load(Ordering::SeqCst);
    if fixup == 0 {
        return None;
    }
    CAUSE.store(cause, Ordering::SeqCst);
    ADDR.store(addr, Ordering::SeqCst);
    FIXUP.store(0, Ordering::SeqCst);
    Some(fixup)
}
