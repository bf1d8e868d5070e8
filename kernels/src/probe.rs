//! Expected faults: a self-test touches memory that must fault (a write to rodata, an
//! instruction fetch from data) through small assembly probes. Before a probe the test
//! names where execution resumes if the access faults; the arch's trap handler, seeing a
//! fault while a resume point is set, records the fault and returns there instead of
//! reporting an unexpected exception.

#![cfg_attr(target_arch = "loongarch64", allow(dead_code))]

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

/// An arch's assembly probes. Each takes an address and returns 0 when the access
/// completed; on a fault the trap handler resumes at `fixup` (or `fixup_exec` for `exec`,
/// which also drops what the call pushed), which returns 1.
pub struct Probes {
    /// Load a u64 (returns it).
    pub read: unsafe extern "C" fn(u64) -> u64,
    /// Store a byte.
    pub write: unsafe extern "C" fn(u64) -> u64,
    /// Call the address, which must hold a return instruction.
    pub exec: unsafe extern "C" fn(u64) -> u64,
    /// Resume point for `read` and `write`.
    pub fixup: unsafe extern "C" fn(),
    /// Resume point for `exec`.
    pub fixup_exec: unsafe extern "C" fn(),
    /// A return instruction in kernel text.
    pub text_ret: unsafe extern "C" fn(),
    /// The bytes of a return instruction, to plant in data.
    pub ret: &'static [u8],
    /// Run before an execute probe (making planted instructions visible), if the arch
    /// needs it.
    pub sync_icache: fn(),
}

impl Probes {
    /// Read a u64 at `va`; the fault if it faulted.
    pub fn read(&self, va: u64) -> Result<u64, Fault> {
        arm(self.fixup as *const () as u64);
        // SAFETY: the probe loads one word; a fault resumes at the fixup in the probe's own
        // frame, which returns to us.
        let v = unsafe { (self.read)(va) };
        disarm().map_or(Ok(v), Err)
    }

    /// Write a byte at `va`; the fault if it faulted. Callers aim only at memory whose
    /// write must fault, or at their own scratch bytes.
    pub fn write(&self, va: u64) -> Option<Fault> {
        arm(self.fixup as *const () as u64);
        // SAFETY: as `read`.
        unsafe { (self.write)(va) };
        disarm()
    }

    /// Call `va`, which must hold [`Probes::ret`]; the fault if fetching it faulted.
    pub fn exec(&self, va: u64) -> Option<Fault> {
        (self.sync_icache)();
        arm(self.fixup_exec as *const () as u64);
        // SAFETY: `va` holds a return instruction planted by the caller (or is kernel text);
        // if the fetch faults, the exec fixup unwinds the call and returns 1.
        unsafe { (self.exec)(va) };
        disarm()
    }

    /// Address of a return instruction in kernel text (its identity address).
    pub fn text_ret(&self) -> u64 {
        self.text_ret as *const () as u64
    }
}
