//! QEMU 7.2's `s390-ccw-virtio`: storage from 0 in the increments the SCLP reports
//! (hw/s390x/sclp.c sclp_memory_init()); no NUMA ([`NO_NUMA`]).

use crate::boot::MemBank;
use crate::machine::{DtbAt, MachineSink, QemuError, QemuModel, QemuRequest, load};

const MIB: u64 = 1 << 20;

/// Why `--numa` is refused.
pub const NO_NUMA: &str =
    "QEMU's s390-ccw-virtio machine has no NUMA, and Debian's s390x kernel is built without CONFIG_NUMA";

/// s390x 6.1.0-50: _stext at 1 MiB (with nokaslr) to the end of its bss (its memblock dump).
pub const KERNEL: (u64, u64) = (0x10_0000, 0x133_b000);

/// The SCLP's storage increments for `mem` bytes of RAM as QEMU 7.2 reports them:
/// `(rnsize, rnmax)`, the increment size (a power of two, at least 1 MiB, chosen so that at
/// most 1020 increments describe the memory) and their number.
pub fn storage_increments(mem: u64) -> (u64, u64) {
    const MAX_STORAGE_INCREMENTS: u64 = 1020;
    let mut shift = 20;
    while (mem >> shift) > MAX_STORAGE_INCREMENTS {
        shift += 1;
    }
    (1 << shift, mem >> shift)
}

impl<const N: usize> QemuModel for super::S390<N> {
    const QEMU_MACHINES: &'static [&'static str] = &["s390-ccw-virtio"];
    const QEMU_NO_NUMA: Option<&'static str> = Some(NO_NUMA);

    /// The built-in machine: RAM rounded down to a whole increment.
    ///
    /// # Errors
    /// [`QemuError::Memory`] for less than one increment.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        let (rnsize, rnmax) = storage_increments(req.mem);
        let size = rnsize * rnmax;
        if size == 0 {
            return Err(QemuError::Memory { mem: req.mem, why: "less than one 1 MiB storage increment" });
        }
        out.name(format_args!(
            "QEMU s390-ccw-virtio (SCLP: {rnmax} storage increments of {} MiB), {} MiB",
            rnsize / MIB,
            size / MIB
        ));
        out.bank(MemBank { base: 0, size, nid: None, hotplug: false });
        out.kernel(KERNEL.0, KERNEL.1);
        Ok(())
    }

    /// The kernel at 1 MiB from the start of storage; a blob 2 MiB below its end.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        load(out, KERNEL, 0, (ram_start, ram_end), dtb, DtbAt::BelowEnd(2 * MIB));
    }
}
