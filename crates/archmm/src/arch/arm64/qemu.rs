//! QEMU 7.2's arm64 `virt` (hw/arm/virt.c) booted with `-kernel`: RAM at 1 GiB, one
//! /memory node per NUMA node; the loader puts the DTB 128 MiB into RAM.

use crate::machine::{BareMetalKernel, DtbAt, MachineSink, NumaSuffix, QemuError, QemuModel, QemuRequest, load, node_banks};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The Debian 6.1 arm64 kernel's placement with `nokaslr` on `virt` (RAM at 1 GiB).
pub const KERNEL: (u64, u64) = (0x4021_0000, 0x4220_b000);

/// The bare-metal kernel: `-kernel` on `virt` with a Cortex-A57.
pub const BARE_METAL: crate::machine::BareMetalKernel = crate::machine::BareMetalKernel {
    rust_target: "aarch64-unknown-none",
    qemu: "qemu-system-aarch64",
    machine: &["-M", "virt", "-cpu", "cortex-a57"],
    exit_device: &["-semihosting"],
    pass_status: 0,
    exit_how: "PSCI SYSTEM_OFF (0) on success, semihosting SYS_EXIT (1) on failure",
    build_std: false,
    min_mem: 2 << 20,
    memory: crate::machine::MemorySource::DeviceTree,
};

impl<const GRANULE_KB: u32, const VA: u32> QemuModel for super::Arm64G<GRANULE_KB, VA> {
    const BARE_METAL_KERNEL: Option<BareMetalKernel> = Some(BARE_METAL);
    const QEMU_MACHINES: &'static [&'static str] = &["virt"];

    /// The built-in machine.
    ///
    /// # Errors
    /// None beyond the checked request's.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        node_banks(GIB, req.mem, req.nodes, out);
        out.name(format_args!("QEMU virt (device tree, -kernel boot), {} MiB{}", req.mem / MIB, NumaSuffix(req.nodes)));
        Self::qemu_loader(GIB, GIB + req.mem, Some(MIB), out);
        Ok(())
    }

    /// QEMU's `-kernel` loader for RAM from `ram_start`: the kernel at its offset from the
    /// start of RAM, the blob 128 MiB in.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        load(out, KERNEL, GIB, (ram_start, ram_end), dtb, DtbAt::FromStart(128 * MIB));
    }
}
