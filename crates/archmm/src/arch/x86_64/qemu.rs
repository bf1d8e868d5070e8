//! QEMU 7.2's x86 machines with SeaBIOS: `pc` (i440FX + PIIX, QEMU's default) and `q35`
//! (Q35 + ICH9), as e820 tables, an ACPI SRAT for `-numa` and the BIOS data area, and the
//! Debian 6.1 kernel where the boot loader puts it. i386 uses the same model
//! ([`machine`]'s parameters say what differs).

use crate::machine::{BareMetalKernel, MachineSink, NumaSuffix, QemuError, QemuModel, QemuRequest, node_sizes};
use archmm_firmware::e820::dmesg::SratMemAffinity;
use archmm_firmware::e820::{E820Entry, E820Type};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// QEMU's x86 machine types, its default first.
pub const MACHINES: &[&str] = &["pc", "q35"];

/// QEMU's AMD_HT_START: the HyperTransport window below 1 TiB.
pub const AMD_HT_START: u64 = 0xfd_0000_0000;

/// The Debian 6.1 amd64 kernel's placement with `nokaslr` (from the captures in
/// crates/archmm-host/tests/data).
pub const KERNEL: (u64, u64) = (0x100_0000, 0x441_1000);

/// What the i386 and x86-64 models do not share.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// How the machine's name starts (`QEMU`, `QEMU (i386)`).
    pub label: &'static str,
    /// The CPU model has enough physical address bits for QEMU >= 7.1 to keep RAM out of
    /// the AMD HyperTransport hole below 1 TiB (qemu64 yes, qemu-system-i386's qemu32 no).
    pub ht_hole: bool,
    /// Where the reference kernel lies.
    pub kernel: (u64, u64),
}

/// The x86-64 machine.
pub const X86_64: Variant = Variant { label: "QEMU", ht_hole: true, kernel: KERNEL };

/// QEMU's pc or q35 machine (hw/i386/pc_piix.c, pc_q35.c, acpi-build.c) with SeaBIOS.
///
/// # Errors
/// None beyond the checked request's; the signature is the models'.
pub fn machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink, v: Variant) -> Result<(), QemuError> {
    let (mem, nodes) = (req.mem, req.nodes);
    let q35 = req.machine == "q35";
    // The RAM split around the 32-bit PCI hole.
    let lowmem = match (q35, mem) {
        (false, m) if m >= 0xe000_0000 => 0xc000_0000, // gigabyte_align
        (false, _) => 0xe000_0000,
        (true, m) if m >= 0xb000_0000 => 0x8000_0000,
        (true, _) => 0xb000_0000,
    };
    let (below, above) = if mem >= lowmem { (lowmem, mem - lowmem) } else { (mem, 0) };
    // SeaBIOS keeps the top of low RAM for itself: 128 KiB on pc, 132 KiB on q35.
    let bios_top = if q35 { 0x2_1000 } else { 0x2_0000 };
    let (ram, res) = (E820Type::RAM, E820Type::RESERVED);
    out.e820(E820Entry::new(0, 0x9fc00, ram));
    out.e820(E820Entry::new(0x9fc00, 0x400, res));
    out.e820(E820Entry::new(0xf0000, 0x10000, res));
    out.e820(E820Entry::new(0x10_0000, below - 0x10_0000 - bios_top, ram));
    out.e820(E820Entry::new(below - bios_top, bios_top, res));
    if q35 {
        out.e820(E820Entry::new(0xb000_0000, 0x1000_0000, res)); // MMCONFIG
        out.e820(E820Entry::new(0xfed1_c000, 0x4000, res)); // RCBA
    }
    out.e820(E820Entry::new(0xfffc_0000, 0x4_0000, res)); // BIOS ROM
    // pc_memory_init(): RAM above 4 GiB that would run into the AMD HyperTransport hole
    // below 1 TiB starts at 1 TiB instead (QEMU >= 7.1, with enough phys-bits).
    let above_start = if (1u64 << 32) + above > AMD_HT_START { 1u64 << 40 } else { 1u64 << 32 };
    if above > 0 {
        out.e820(E820Entry::new(above_start, above, ram));
    }
    if v.ht_hole {
        // QEMU >= 7.1 with an AMD CPU model (qemu64): the HyperTransport hole below 1 TiB.
        out.e820(E820Entry::new(AMD_HT_START, 0x3_0000_0000, res));
    }
    // build_srat(): node memory laid out in RAM order, 640K first, the PCI hole cut out.
    if nodes > 1 {
        let mut push = |nid: u32, base: u64, len: u64| {
            out.srat(SratMemAffinity { node: nid, pxm: nid, start: base, end: base + len - 1, hotplug: false, nonvolatile: false });
        };
        push(0, 0, 640 * KIB);
        let mut next = MIB;
        for (i, size) in node_sizes(mem, nodes, 23).enumerate() {
            let i = i as u32;
            let mut base = next;
            let mut len = if i == 0 { size.saturating_sub(MIB) } else { size };
            next = base + len;
            if base <= below && next > below {
                len -= next - below;
                if len > 0 {
                    push(i, base, len);
                }
                base = above_start;
                len = next - below;
                next = base + len;
            }
            if len > 0 {
                push(i, base, len);
            }
        }
    }
    let (ty, desc) = if q35 { ("q35", "Q35 + ICH9, SeaBIOS") } else { ("pc", "i440FX + PIIX, SeaBIOS") };
    out.name(format_args!("{} {ty} ({desc}), {} MiB{}", v.label, mem / MIB, NumaSuffix(nodes)));
    out.kernel(v.kernel.0, v.kernel.1);
    bios_data_area(out);
    Ok(())
}

/// SeaBIOS's BIOS data area: 639 KiB of base memory, the EBDA at segment 0x9fc0.
pub fn bios_data_area(out: &mut dyn MachineSink) {
    out.bios_data_area(639, 0x9fc0);
}

/// SeaBIOS and the boot loader for a memory map from elsewhere (an e820 dump, a UEFI map):
/// the kernel where `v`'s reference kernel lies, SeaBIOS's BIOS data area.
pub fn loader(v: Variant, out: &mut dyn MachineSink) {
    out.kernel(v.kernel.0, v.kernel.1);
    bios_data_area(out);
}

/// The bare-metal kernel: PVH boot on `pc`, exit through isa-debug-exit.
pub const BARE_METAL: crate::machine::BareMetalKernel = crate::machine::BareMetalKernel {
    rust_target: "x86_64-unknown-none",
    qemu: "qemu-system-x86_64",
    machine: &["-M", "pc"],
    exit_device: &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot"],
    pass_status: 33,
    exit_how: "isa-debug-exit: (0x10 << 1) | 1 = 33 on success, 35 on failure",
    build_std: false,
    min_mem: 2 << 20,
    memory: crate::machine::MemorySource::E820,
};

impl<const LA57: bool> QemuModel for super::X86<LA57> {
    const BARE_METAL_KERNEL: Option<BareMetalKernel> = Some(BARE_METAL);
    const QEMU_MACHINES: &'static [&'static str] = MACHINES;

    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        machine(req, out, X86_64)
    }

    fn qemu_loader(_ram_start: u64, _ram_end: u64, _dtb: Option<u64>, out: &mut dyn MachineSink) {
        loader(X86_64, out)
    }
}
