//! QEMU 7.2's 32-bit `virt` (hw/arm/virt.c) booted with `-kernel`: RAM at 1 GiB as one
//! /memory node per NUMA node; the loader puts the DTB 128 MiB into RAM.

use crate::machine::{DtbAt, MachineSink, NumaSuffix, QemuError, QemuModel, QemuRequest, load, node_banks};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Debian's 6.1.0-50-armmp-lpae kernel on QEMU virt (its `arm_memblock_init` reservation).
pub const KERNEL: (u64, u64) = (0x4040_0000, 0x4180_d288);

impl<const LPAE: bool> QemuModel for super::Arm32<LPAE> {
    const QEMU_MACHINES: &'static [&'static str] = &["virt"];

    /// The built-in machine.
    ///
    /// # Errors
    /// None beyond the checked request's.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        out.name(format_args!("QEMU virt (arm, device tree, -kernel boot), {} MiB{}", req.mem / MIB, NumaSuffix(req.nodes)));
        node_banks(GIB, req.mem, req.nodes, out);
        Self::qemu_loader(GIB, GIB + req.mem, Some(MIB), out);
        Ok(())
    }

    /// QEMU's `-kernel` loader for RAM from `ram_start`.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        load(out, KERNEL, GIB, (ram_start, ram_end), dtb, DtbAt::FromStart(128 * MIB));
    }
}
