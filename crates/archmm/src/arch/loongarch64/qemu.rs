//! QEMU 7.2's LoongArch `virt` (hw/loongarch/virt.c): low RAM at 0 up to VIRT_LOWMEM_SIZE
//! (256 MiB), the rest from VIRT_HIGHMEM_BASE (0x9000_0000). Its NUMA nodes come from an
//! ACPI SRAT, which this model does not build ([`NO_NUMA`]).

use crate::boot::MemBank;
use crate::machine::{BareMetalKernel, DtbAt, MachineSink, QemuError, QemuModel, QemuRequest, load};

const MIB: u64 = 1 << 20;

/// Why `--numa` is refused.
pub const NO_NUMA: &str =
    "LoongArch's Linux reads NUMA nodes from the ACPI SRAT, which archmm's loongarch64 machine does not model";

/// LoongArch's load address (VMLINUX_LOAD_ADDRESS 0x9000000000200000, physical 2 MiB); a
/// 24 MiB image (no Debian 12 kernel: an assumption).
pub const KERNEL: (u64, u64) = (0x20_0000, 0x1a0_0000);

/// The bare-metal kernel on `virt`. loongarch64-unknown-none is hard-float; the kernel
/// uses the soft-float target (FP stays off), whose `core` is built from rust-src.
pub const BARE_METAL: crate::machine::BareMetalKernel = crate::machine::BareMetalKernel {
    rust_target: "loongarch64-unknown-none-softfloat",
    qemu: "qemu-system-loongarch64",
    machine: &["-M", "virt"],
    exit_device: &["-device", "pvpanic-pci", "-action", "panic=exit-failure", "-no-reboot"],
    pass_status: 0,
    exit_how: "ACPI GED power-off (0) on success, pvpanic-pci with -action panic=exit-failure (1) on failure",
    build_std: true,
    // hw/loongarch/virt.c: "ram_size must be greater than 1G".
    min_mem: 1 << 30,
    memory: crate::machine::MemorySource::FwCfgMemmap,
};

impl<const PAGE_SHIFT: u32, const N: usize> QemuModel for super::LoongArch<PAGE_SHIFT, N> {
    const BARE_METAL_KERNEL: Option<BareMetalKernel> = Some(BARE_METAL);
    const QEMU_MACHINES: &'static [&'static str] = &["virt"];
    const QEMU_NO_NUMA: Option<&'static str> = Some(NO_NUMA);

    /// The built-in machine. The DTB (1 MiB) sits at 1 MiB, below the kernel (an assumption
    /// about the loader).
    ///
    /// # Errors
    /// None beyond the checked request's.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        const LOWMEM: u64 = 256 * MIB;
        const HIGHMEM_BASE: u64 = 0x9000_0000;
        let mem = req.mem;
        out.bank(MemBank { base: 0, size: mem.min(LOWMEM), nid: None, hotplug: false });
        if mem > LOWMEM {
            out.bank(MemBank { base: HIGHMEM_BASE, size: mem - LOWMEM, nid: None, hotplug: false });
        }
        out.name(format_args!("QEMU virt (loongarch64, low RAM 256 MiB + high RAM at 0x90000000), {} MiB", mem / MIB));
        out.kernel(KERNEL.0, KERNEL.1);
        out.dtb(MIB, 2 * MIB);
        Ok(())
    }

    /// The kernel at its physical load address from the start of RAM; a blob 2 MiB below the
    /// end of RAM.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        load(out, KERNEL, 0, (ram_start, ram_end), dtb, DtbAt::BelowEnd(2 * MIB));
    }
}
