//! QEMU 7.2's riscv64 `virt` (hw/riscv/virt.c) with OpenSBI 1.1 (fw_dynamic): RAM at
//! 2 GiB, one /memory node per NUMA node; OpenSBI keeps its first 512 KiB.

use crate::boot::ResvRange;
use crate::machine::{BareMetalKernel, MachineSink, NumaSuffix, QemuError, QemuModel, QemuRequest, moved, node_banks};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Debian's 6.1 riscv64 kernel where OpenSBI jumps (2 MiB into RAM at 2 GiB).
pub const KERNEL: (u64, u64) = (0x8020_0000, 0x81a0_0000);

/// The bare-metal kernel: OpenSBI's payload on `virt`.
pub const BARE_METAL: crate::machine::BareMetalKernel = crate::machine::BareMetalKernel {
    rust_target: "riscv64gc-unknown-none-elf",
    qemu: "qemu-system-riscv64",
    machine: &["-M", "virt"],
    exit_device: &[],
    pass_status: 0,
    exit_how: "SBI system reset (0) on success, the test finisher (1) on failure",
    build_std: false,
    min_mem: 2 << 20,
    memory: crate::machine::MemorySource::DeviceTree,
};

impl<const N: usize> QemuModel for super::Riscv<N> {
    const BARE_METAL_KERNEL: Option<BareMetalKernel> = Some(BARE_METAL);
    const QEMU_MACHINES: &'static [&'static str] = &["virt"];

    /// The built-in machine.
    ///
    /// # Errors
    /// None beyond the checked request's.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        let base = 2 * GIB;
        node_banks(base, req.mem, req.nodes, out);
        out.name(format_args!("QEMU virt (device tree, OpenSBI), {} MiB{}", req.mem / MIB, NumaSuffix(req.nodes)));
        // The blob QEMU generates is under 8 KiB.
        Self::qemu_loader(base, base + req.mem, Some(0x2000), out);
        Ok(())
    }

    /// OpenSBI and QEMU's loader for RAM `[ram_start, ram_end)`: OpenSBI 1.1 adds
    /// /reserved-memory/mmode_resv0@<start of RAM> for its 512 KiB (reserved, not no-map: seen
    /// in the tree the bare-metal kernel receives); riscv_compute_fdt_addr() puts the blob 2 MiB
    /// aligned below min(end of RAM, 3 GiB); the kernel is where OpenSBI jumps.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        if let Some(size) = dtb {
            out.reserved(ResvRange { base: ram_start, size: 0x8_0000, nomap: false });
            let top = if ram_start < 3 * GIB { ram_end.min(3 * GIB) } else { ram_end };
            let fdt = top.saturating_sub(size) & !(2 * MIB - 1);
            out.dtb(fdt, fdt + size);
        }
        let k = moved(KERNEL, 2 * GIB, ram_start);
        out.kernel(k.0, k.1);
    }
}
