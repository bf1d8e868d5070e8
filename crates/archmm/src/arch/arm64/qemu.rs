//! QEMU 7.2's arm64 `virt` (hw/arm/virt.c) booted with `-kernel`: RAM at 1 GiB, one
//! /memory node per NUMA node; the loader puts the DTB 128 MiB into RAM.

use crate::machine::{moved, node_banks, MachineSink, NumaSuffix, QemuError, QemuRequest};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The Debian 6.1 arm64 kernel's placement with `nokaslr` on `virt` (RAM at 1 GiB).
pub const KERNEL: (u64, u64) = (0x4021_0000, 0x4220_b000);

/// The built-in machine.
///
/// # Errors
/// None beyond the checked request's.
pub fn machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
    node_banks(GIB, req.mem, req.nodes, out);
    out.name(format_args!("QEMU virt (device tree, -kernel boot), {} MiB{}", req.mem / MIB, NumaSuffix(req.nodes)));
    loader(GIB, GIB + req.mem, Some(MIB), out);
    Ok(())
}

/// QEMU's `-kernel` loader for RAM from `ram_start`: the kernel at its offset from the
/// start of RAM, the blob 128 MiB in.
pub fn loader(ram_start: u64, _ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
    let k = moved(KERNEL, GIB, ram_start);
    out.kernel(k.0, k.1);
    if let Some(size) = dtb {
        out.dtb(ram_start + 128 * MIB, ram_start + 128 * MIB + size);
    }
}
