//! Machine descriptions: what firmware hands the kernel, for the emulator to boot.
//!
//! A [`Machine`] owns the firmware data (e820 table, SRAT, device-tree banks and reserved
//! ranges) and the boot loader's placement of the kernel, initrd and DTB, and lends it to
//! the core as a [`FirmwareMap`]. Machines come from
//! - the built-in QEMU models ([`Machine::qemu`]): the maps QEMU 7.2 and its firmware
//!   (SeaBIOS; OpenSBI on riscv) produce for `-m SIZE` and equal-sized NUMA nodes;
//! - firmware data given directly: an e820 table in Linux's dmesg format with optional SRAT
//!   lines, a DTB blob, a UEFI memory map;
//! - a TOML description.

use archmm::arch::{ArchId, FirmwareKind};
use archmm::boot::{DynamicResv, FirmwareMap, KernelSections, MemBank, ResvRange};
use archmm::firmware::e820::dmesg::{SratCpuAffinity, SratMemAffinity};
use archmm::firmware::e820::{E820Entry, E820Type};
use serde::Deserialize;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The x86 BIOS data area words the kernel reads (base memory in KiB, EBDA segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BiosDataArea {
    /// 0x413: base memory size in KiB.
    pub base_kb: u16,
    /// 0x40e: EBDA segment.
    pub ebda_segment: u16,
}

/// A machine to boot.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// Human-readable description (`QEMU pc, 8 GiB`).
    pub name: String,
    /// x86: e820 as the BIOS gives it.
    pub e820: Vec<E820Entry>,
    /// x86: SRAT memory affinity.
    pub srat: Vec<SratMemAffinity>,
    /// x86: SRAT processor affinity (APIC id to node).
    pub srat_cpus: Vec<SratCpuAffinity>,
    /// Device tree: each CPU node's `numa-node-id`, in tree order.
    pub cpu_nodes: Vec<Option<u32>>,
    /// Device tree: the NUMA distance map's `(node a, node b, distance)` entries, if any.
    pub numa_distances: Option<Vec<(u32, u32, u32)>>,
    /// Device tree banks.
    pub banks: Vec<MemBank>,
    /// Device tree reserved ranges.
    pub reserved: Vec<ResvRange>,
    /// Device tree /reserved-memory regions the kernel allocates.
    pub dynamic: Vec<DynamicResv>,
    /// Kernel image `[start, end)`.
    pub kernel: Option<(u64, u64)>,
    /// Initrd `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// DTB placement `[start, end)`.
    pub dtb: Option<(u64, u64)>,
    /// x86 BIOS data area contents.
    pub bda: Option<BiosDataArea>,
    /// The kernel image's section sizes (for the `Memory:` line); `None`: those of the
    /// reference kernel of the mode that boots ([`archmm::arch::Arch::KERNEL_SECTIONS`]).
    pub sections: Option<KernelSections>,
}

/// Where the reference kernel of an x86 arch lies on QEMU pc.
pub fn x86_kernel(arch: ArchId) -> (u64, u64) {
    if arch == ArchId::I386 {
        I386_KERNEL
    } else {
        X86_KERNEL
    }
}

/// The SCLP's storage increments for `mem` bytes of RAM as QEMU 7.2 reports them:
/// `(rnsize, rnmax)`, the increment size (a power of two, at least 1 MiB, chosen so that
/// at most 1020 increments describe the memory) and their number.
pub fn sclp_storage_increments(mem: u64) -> (u64, u64) {
    const MAX_STORAGE_INCREMENTS: u64 = 1020;
    let mut shift = 20;
    while (mem >> shift) > MAX_STORAGE_INCREMENTS {
        shift += 1;
    }
    (1 << shift, mem >> shift)
}

/// Why a machine description was refused.
#[derive(Debug)]
pub struct MachineError(pub String);

impl std::fmt::Display for MachineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(s: impl Into<String>) -> Result<T, MachineError> {
    Err(MachineError(s.into()))
}

/// QEMU's x86 machine types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum X86MachineType {
    /// i440FX + PIIX (QEMU's default `pc`).
    Pc,
    /// Q35 + ICH9.
    Q35,
}

/// QEMU's AMD_HT_START: the HyperTransport window below 1 TiB.
const AMD_HT_START: u64 = 0xfd_0000_0000;

/// The Debian 6.1 kernel's placement with `nokaslr` (from the captures in tests/data).
const X86_KERNEL: (u64, u64) = (0x100_0000, 0x441_1000);
const ARM64_KERNEL: (u64, u64) = (0x4021_0000, 0x4220_b000);
/// OpenSBI 1.1's own region as it appears in the device tree it hands the kernel on QEMU
/// 7.2's `virt` (`mmode_resv0@80000000`, 512 KiB, reserved but mapped).
fn opensbi_resv(base: u64) -> ResvRange {
    ResvRange { base, size: 0x8_0000, nomap: false }
}

/// riscv64 has no Debian 12 kernel; a 24 MiB image where OpenSBI's fw_dynamic jumps.
const RISCV_KERNEL: (u64, u64) = (0x8020_0000, 0x81a0_0000);
/// Debian's 6.1.0-50-686-pae kernel on QEMU pc: _text at 16 MiB, its memblock reservation
/// to 0x1f24000 (the image and its brk).
const I386_KERNEL: (u64, u64) = (0x100_0000, 0x1f2_4000);
/// Debian's 6.1.0-50-armmp-lpae kernel on QEMU virt (its `arm_memblock_init` reservation).
const ARM_KERNEL: (u64, u64) = (0x4040_0000, 0x4180_d288);
/// LoongArch's load address (VMLINUX_LOAD_ADDRESS 0x9000000000200000, physical 2 MiB); a
/// 24 MiB image (no Debian 12 kernel: an assumption).
const LOONGARCH_KERNEL: (u64, u64) = (0x20_0000, 0x1a0_0000);
/// s390x 6.1.0-50: _stext at 1 MiB (with nokaslr) to the end of its bss (its memblock dump).
const S390_KERNEL: (u64, u64) = (0x10_0000, 0x133_b000);
/// powerpc64 (6.1.0-57, pseries) runs its kernel at real address 0; its memblock
/// reservation ends at klimit, 0x2880d00.
const PPC64_KERNEL: (u64, u64) = (0, 0x288_0d00);

impl Machine {
    /// The end of the highest RAM the firmware reports (device-tree or SCLP banks, e820
    /// RAM entries): what an arch that picks its kernel paging mode by the size of memory
    /// looks at ([`archmm::arch::Arch::kernel_mode_for`]).
    pub fn ram_end(&self) -> u64 {
        let banks = self.banks.iter().map(|b| b.base.saturating_add(b.size));
        let e820 = self.e820.iter().filter(|e| e.ty == E820Type::RAM).map(|e| e.addr.saturating_add(e.size));
        banks.chain(e820).max().unwrap_or(0)
    }

    /// The built-in machine's `cpus` CPUs as QEMU describes them when `-smp cpus` is split
    /// evenly over the NUMA nodes with `-numa node,cpus=` ranges (CPU i on node
    /// i * nodes / cpus, e.g. `cpus=0-1` and `cpus=2-3` for 4 CPUs on 2 nodes): SRAT
    /// processor entries (APIC id i, as QEMU numbers them) on x86, each CPU node's
    /// numa-node-id in a device tree. A machine without NUMA description is unchanged.
    pub fn with_qemu_cpus(mut self, cpus: usize) -> Machine {
        let nodes =
            1 + self.srat.iter().map(|s| s.node).chain(self.banks.iter().filter_map(|b| b.nid)).max().unwrap_or(0)
                as usize;
        if nodes < 2 || cpus == 0 {
            return self;
        }
        let node = |i: usize| (i * nodes / cpus) as u32;
        if !self.srat.is_empty() {
            self.srat_cpus =
                (0..cpus).map(|i| SratCpuAffinity { pxm: node(i), apic_id: i as u32, node: node(i) }).collect();
        } else {
            self.cpu_nodes = (0..cpus).map(|i| Some(node(i))).collect();
        }
        self
    }

    /// The CPUs the firmware data describes (a device tree's CPU nodes, an e820 file's SRAT
    /// processor entries), if it describes any: Linux's nr_cpu_ids for that machine.
    pub fn firmware_cpus(&self) -> Option<usize> {
        [self.cpu_nodes.len(), self.srat_cpus.len()].into_iter().find(|&n| n != 0)
    }

    /// Lend the firmware data to the core.
    pub fn firmware_map<A: archmm::arch::Arch>(&self) -> FirmwareMap<'_> {
        FirmwareMap {
            e820: &self.e820,
            srat: &self.srat,
            srat_cpus: &self.srat_cpus,
            cpu_nodes: &self.cpu_nodes,
            numa_distances: self.numa_distances.as_deref(),
            banks: &self.banks,
            reserved: &self.reserved,
            dynamic: &self.dynamic,
            kernel: self.kernel,
            initrd: self.initrd,
            dtb: self.dtb,
            sections: self.sections.unwrap_or(A::KERNEL_SECTIONS),
        }
    }

    /// The built-in QEMU machine for `arch` with `mem` bytes split over `nodes` equal NUMA
    /// nodes (0 or 1: no NUMA description), as QEMU 7.2 and its firmware describe it.
    ///
    /// # Errors
    /// Sizes QEMU itself refuses or that make no sense (below 2 MiB, above 16 TiB, not a
    /// multiple of the page size, nodes that do not divide memory into page multiples).
    pub fn qemu(arch: ArchId, mem: u64, nodes: u32, x86: X86MachineType) -> Result<Machine, MachineError> {
        if mem < 2 * MIB {
            return err(format!("--mem {mem:#x}: QEMU machines need at least 2 MiB"));
        }
        if mem > 16 << 40 {
            return err(format!("--mem {mem:#x}: more than 16 TiB is not a QEMU machine"));
        }
        // QEMU rounds -m up to 8 KiB (set_memory_options()).
        let mem = mem.next_multiple_of(8 * KIB);
        let nodes = nodes.max(1);
        let info = arch.info();
        if nodes > 1 {
            match arch {
                ArchId::S390 => return err(format!("--numa {nodes}: QEMU's s390-ccw-virtio machine has no NUMA, and Debian's s390x kernel is built without CONFIG_NUMA")),
                ArchId::Loongarch64 => {
                    return err(format!("--numa {nodes}: LoongArch's Linux reads NUMA nodes from the ACPI SRAT, which archmm's loongarch64 machine does not model"))
                }
                _ if info.max_numnodes == 1 => {
                    return err(format!("--numa {nodes}: the {} reference kernel (Debian's) is built without CONFIG_NUMA and would see one node", info.name))
                }
                _ if nodes > info.max_numnodes => {
                    return err(format!(
                        "--numa {nodes}: {}'s Linux 6.1 takes at most {} NUMA nodes (CONFIG_NODES_SHIFT={})",
                        info.name,
                        info.max_numnodes,
                        info.max_numnodes.trailing_zeros()
                    ))
                }
                _ => {}
            }
        }
        let m = match arch {
            ArchId::X86_64 => Self::qemu_x86(mem, nodes, x86),
            ArchId::I386 => {
                // qemu-system-i386's qemu32 CPU has 36 physical address bits: no
                // HyperTransport hole below 1 TiB in its map.
                let mut m = Self::qemu_x86(mem, nodes, x86);
                m.e820.retain(|e| e.addr != AMD_HT_START);
                m.kernel = Some(I386_KERNEL);
                m.name = m.name.replacen("QEMU ", "QEMU (i386) ", 1);
                m
            }
            ArchId::Arm64 | ArchId::Riscv64 => Self::qemu_virt_dt(arch, mem, nodes),
            ArchId::Arm => Self::qemu_arm_virt(mem, nodes),
            ArchId::Loongarch64 => Self::qemu_loongarch_virt(mem, nodes),
            ArchId::S390 => Self::qemu_s390_ccw(mem)?,
            ArchId::Powerpc => Self::qemu_pseries(mem, nodes),
        };
        Ok(m)
    }

    /// QEMU's split of RAM over `-numa node` entries that give no size
    /// (numa_default_auto_split()): every node but the last gets `mem / nodes` rounded down
    /// to the machine's numa_mem_align_shift (8 MiB; pseries 256 MiB), the last the rest.
    /// Nodes can end up with no memory (memoryless), as in QEMU.
    pub fn qemu_node_sizes(mem: u64, nodes: u32, align_shift: u32) -> Vec<u64> {
        let nodes = nodes.max(1) as u64;
        let each = (mem / nodes) & !((1u64 << align_shift) - 1);
        (0..nodes).map(|i| if i + 1 < nodes { each } else { mem - each * (nodes - 1) }).collect()
    }

    fn qemu_x86(mem: u64, nodes: u32, ty: X86MachineType) -> Machine {
        // hw/i386/pc_piix.c / pc_q35.c: the RAM split around the 32-bit PCI hole.
        let lowmem = match ty {
            X86MachineType::Pc => {
                let mut lowmem = 0xe000_0000u64;
                if mem >= lowmem {
                    lowmem = 0xc000_0000; // gigabyte_align
                }
                lowmem
            }
            X86MachineType::Q35 => {
                if mem >= 0xb000_0000 {
                    0x8000_0000
                } else {
                    0xb000_0000
                }
            }
        };
        let (below, above) = if mem >= lowmem { (lowmem, mem - lowmem) } else { (mem, 0) };
        // SeaBIOS keeps the top of low RAM for itself: 128 KiB on pc, 132 KiB on q35.
        let bios_top = match ty {
            X86MachineType::Pc => 0x2_0000,
            X86MachineType::Q35 => 0x2_1000,
        };
        let ram = E820Type::RAM;
        let res = E820Type::RESERVED;
        let mut e = vec![
            E820Entry::new(0, 0x9fc00, ram),
            E820Entry::new(0x9fc00, 0x400, res),
            E820Entry::new(0xf0000, 0x10000, res),
            E820Entry::new(0x10_0000, below - 0x10_0000 - bios_top, ram),
            E820Entry::new(below - bios_top, bios_top, res),
        ];
        if ty == X86MachineType::Q35 {
            e.push(E820Entry::new(0xb000_0000, 0x1000_0000, res)); // MMCONFIG
            e.push(E820Entry::new(0xfed1_c000, 0x4000, res)); // RCBA
        }
        e.push(E820Entry::new(0xfffc_0000, 0x4_0000, res)); // BIOS ROM
                                                            // pc_memory_init(): RAM above 4 GiB that would run into the AMD HyperTransport hole
                                                            // below 1 TiB starts at 1 TiB instead (QEMU >= 7.1, with enough phys-bits).
        let above_start = if (1u64 << 32) + above > AMD_HT_START { 1u64 << 40 } else { 1u64 << 32 };
        if above > 0 {
            e.push(E820Entry::new(above_start, above, ram));
        }
        // QEMU >= 7.1 with an AMD CPU model (qemu64): the HyperTransport hole below 1 TiB.
        e.push(E820Entry::new(AMD_HT_START, 0x3_0000_0000, res));

        // acpi-build.c build_srat(): node memory laid out in RAM order, 640K first, the
        // PCI hole cut out.
        let mut srat = Vec::new();
        if nodes > 1 {
            let sizes = Self::qemu_node_sizes(mem, nodes, 23);
            let mut push = |nid: u32, base: u64, len: u64| {
                srat.push(SratMemAffinity {
                    node: nid,
                    pxm: nid,
                    start: base,
                    end: base + len - 1,
                    hotplug: false,
                    nonvolatile: false,
                });
            };
            push(0, 0, 640 * KIB);
            let mut next = MIB;
            for i in 0..nodes {
                let mut base = next;
                let mut len = sizes[i as usize];
                if i == 0 {
                    len = len.saturating_sub(MIB);
                }
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
        let name = format!(
            "QEMU {} ({}), {} MiB{}",
            match ty {
                X86MachineType::Pc => "pc",
                X86MachineType::Q35 => "q35",
            },
            match ty {
                X86MachineType::Pc => "i440FX + PIIX, SeaBIOS",
                X86MachineType::Q35 => "Q35 + ICH9, SeaBIOS",
            },
            mem / MIB,
            if nodes > 1 { format!(", {nodes} NUMA nodes") } else { String::new() }
        );
        Machine {
            name,
            e820: e,
            srat,
            kernel: Some(X86_KERNEL),
            bda: Some(BiosDataArea { base_kb: 639, ebda_segment: 0x9fc0 }),
            ..Default::default()
        }
    }

    /// Banks of `per` bytes, one per node, consecutive from `base`.
    fn node_banks(base: u64, mem: u64, nodes: u32) -> Vec<MemBank> {
        let mut at = base;
        let mut banks = Vec::new();
        for (i, size) in Self::qemu_node_sizes(mem, nodes, 23).into_iter().enumerate() {
            if size != 0 {
                banks.push(MemBank {
                    base: at,
                    size,
                    nid: if nodes > 1 { Some(i as u32) } else { None },
                    hotplug: false,
                });
            }
            at += size;
        }
        banks
    }

    fn numa_suffix(nodes: u32) -> String {
        if nodes > 1 {
            format!(", {nodes} NUMA nodes")
        } else {
            String::new()
        }
    }

    /// QEMU 7.2's 32-bit `virt` (hw/arm/virt.c): RAM at 1 GiB as one /memory node; the
    /// -kernel loader puts the DTB 128 MiB into RAM (1 MiB, as the arm64 machine).
    fn qemu_arm_virt(mem: u64, nodes: u32) -> Machine {
        let base = GIB;
        Machine {
            name: format!("QEMU virt (arm, device tree, -kernel boot), {} MiB{}", mem / MIB, Self::numa_suffix(nodes)),
            banks: Self::node_banks(base, mem, nodes),
            kernel: Some(ARM_KERNEL),
            dtb: Some((base + 128 * MIB, base + 129 * MIB)),
            ..Default::default()
        }
    }

    /// QEMU 7.2's LoongArch `virt` (hw/loongarch/virt.c): low RAM at 0 up to
    /// VIRT_LOWMEM_SIZE (256 MiB), the rest from VIRT_HIGHMEM_BASE (0x9000_0000). The DTB
    /// (1 MiB) sits at 1 MiB, below the kernel (an assumption about the loader).
    fn qemu_loongarch_virt(mem: u64, nodes: u32) -> Machine {
        const LOWMEM: u64 = 256 * MIB;
        const HIGHMEM_BASE: u64 = 0x9000_0000;
        let mut banks = vec![MemBank { base: 0, size: mem.min(LOWMEM), nid: None, hotplug: false }];
        if mem > LOWMEM {
            banks.push(MemBank { base: HIGHMEM_BASE, size: mem - LOWMEM, nid: None, hotplug: false });
        }
        if nodes > 1 {
            // hw/loongarch: node 0 gets low RAM and the first part of high RAM.
            let sizes = Self::qemu_node_sizes(mem, nodes, 23);
            banks = Vec::new();
            let mut at = 0u64;
            for i in 0..nodes {
                let (mut lo, hi) = (at, at + sizes[i as usize]);
                if lo < LOWMEM {
                    let e = hi.min(LOWMEM);
                    banks.push(MemBank { base: lo, size: e - lo, nid: Some(i), hotplug: false });
                    lo = e;
                }
                if hi > lo {
                    banks.push(MemBank {
                        base: HIGHMEM_BASE + (lo - LOWMEM),
                        size: hi - lo,
                        nid: Some(i),
                        hotplug: false,
                    });
                }
                at = hi;
            }
        }
        Machine {
            name: format!(
                "QEMU virt (loongarch64, low RAM 256 MiB + high RAM at 0x90000000), {} MiB{}",
                mem / MIB,
                Self::numa_suffix(nodes)
            ),
            banks,
            kernel: Some(LOONGARCH_KERNEL),
            dtb: Some((MIB, 2 * MIB)),
            ..Default::default()
        }
    }

    /// QEMU 7.2's `s390-ccw-virtio`: storage from 0 in increments the SCLP reports
    /// (hw/s390x/sclp.c sclp_memory_init(): the increment is the smallest power of two from
    /// 1 MiB that keeps the count at most 1020; RAM is rounded down to a whole increment).
    fn qemu_s390_ccw(mem: u64) -> Result<Machine, MachineError> {
        let (rnsize, rnmax) = sclp_storage_increments(mem);
        let size = rnsize * rnmax;
        if size == 0 {
            return err(format!("--mem {mem:#x}: less than one 1 MiB storage increment"));
        }
        Ok(Machine {
            name: format!(
                "QEMU s390-ccw-virtio (SCLP: {rnmax} storage increments of {} MiB), {} MiB",
                rnsize / MIB,
                size / MIB
            ),
            banks: vec![MemBank { base: 0, size, nid: None, hotplug: false }],
            kernel: Some(S390_KERNEL),
            ..Default::default()
        })
    }

    /// QEMU 7.2's pseries memory nodes (spapr_populate_memory()): the RMA, the largest
    /// power of two within node 0, at 0; then each node's rest in pieces that are powers of
    /// two no larger than their address's alignment, each piece a /memory@<base> node with
    /// ibm,associativity naming its NUMA node (checked against QEMU's dumped trees for 768M
    /// to 12G and a 3G+3G two-node machine).
    fn pseries_banks(mem: u64, nodes: u32) -> Vec<MemBank> {
        let mut banks = Vec::new();
        let mut start = 0u64;
        for (n, per) in Self::qemu_node_sizes(mem, nodes, 28).into_iter().enumerate() {
            let nid = Some(n as u32); // every node has ibm,associativity, all zeros without -numa
            let mut left = per;
            if per == 0 {
                continue;
            }
            if start == 0 {
                let rma = 1u64 << (63 - per.leading_zeros());
                banks.push(MemBank { base: 0, size: rma, nid, hotplug: false });
                start = rma;
                left -= rma;
            }
            while left > 0 {
                let piece = (1u64 << (63 - left.leading_zeros())).min(1 << start.trailing_zeros());
                banks.push(MemBank { base: start, size: piece, nid, hotplug: false });
                start += piece;
                left -= piece;
            }
        }
        banks
    }

    /// QEMU 7.2's `pseries` (hw/ppc/spapr.c): RAM from 0 in the memory nodes
    /// [`Self::pseries_banks`] lays out. The kernel runs at real address 0; SLOF's FDT copy
    /// (64 KiB) sits below 768 MiB (an assumption).
    fn qemu_pseries(mem: u64, nodes: u32) -> Machine {
        let fdt_top = mem.min(768 * MIB);
        Machine {
            name: format!("QEMU pseries (device tree, radix MMU), {} MiB{}", mem / MIB, Self::numa_suffix(nodes)),
            banks: Self::pseries_banks(mem, nodes),
            kernel: Some(PPC64_KERNEL),
            dtb: Some((fdt_top - 2 * MIB, fdt_top - 2 * MIB + 0x1_0000)),
            ..Default::default()
        }
    }

    fn qemu_virt_dt(arch: ArchId, mem: u64, nodes: u32) -> Machine {
        // hw/arm/virt.c and hw/riscv/virt.c: RAM at 1 GiB (arm) / 2 GiB (riscv), one
        // memory node per NUMA node, consecutive.
        let base = if arch == ArchId::Arm64 { GIB } else { 2 * GIB };
        let banks = Self::node_banks(base, mem, nodes);
        let (kernel, dtb, reserved) = if arch == ArchId::Arm64 {
            // QEMU's -kernel loader puts the DTB 128 MiB into RAM; its blob is 1 MiB.
            (ARM64_KERNEL, (base + 128 * MIB, base + 129 * MIB), vec![])
        } else {
            // riscv_compute_fdt_addr(): 2 MiB aligned below min(end of RAM, 3 GiB); the
            // blob QEMU generates is under 8 KiB. OpenSBI 1.1 (fw_dynamic, QEMU 7.2) adds
            // /reserved-memory/mmode_resv0@80000000 for its 512 KiB at the start of RAM,
            // without no-map (seen in the tree the bare-metal kernel receives).
            let end = base + mem;
            let top = if base < 3 * GIB { end.min(3 * GIB) } else { end };
            let fdt_size = 0x2000;
            let fdt = (top - fdt_size) & !(2 * MIB - 1);
            (RISCV_KERNEL, (fdt, fdt + fdt_size), vec![opensbi_resv(base)])
        };
        Machine {
            name: format!(
                "QEMU virt ({}), {} MiB{}",
                if arch == ArchId::Arm64 { "device tree, -kernel boot" } else { "device tree, OpenSBI" },
                mem / MIB,
                if nodes > 1 { format!(", {nodes} NUMA nodes") } else { String::new() }
            ),
            banks,
            reserved,
            kernel: Some(kernel),
            dtb: Some(dtb),
            ..Default::default()
        }
    }

    /// A machine from Linux dmesg lines: `BIOS-e820:` entries, optional `ACPI: SRAT:`
    /// memory affinity lines and `SRAT: PXM .. -> APIC .. -> Node ..` processor affinity
    /// lines (without them CPUs are spread over the nodes round-robin, as Linux does for
    /// CPUs the SRAT does not place); everything else is ignored. Kernel placement and BIOS data
    /// area as on QEMU's pc machine.
    ///
    /// # Errors
    /// A message naming the bad line.
    pub fn from_e820_text(text: &str) -> Result<Machine, MachineError> {
        use archmm::firmware::e820::dmesg;
        let t: archmm::firmware::e820::E820Table =
            dmesg::parse_bios_e820(text).map_err(|e| MachineError(e.to_string()))?;
        if t.is_empty() {
            return err("no `BIOS-e820: [mem 0x...-0x...] type` lines found");
        }
        let srat = dmesg::parse_srat::<{ dmesg::SRAT_MAX_ENTRIES }>(text).map_err(|e| MachineError(e.to_string()))?;
        let srat_cpus =
            dmesg::parse_srat_cpus::<{ dmesg::SRAT_MAX_CPUS }>(text).map_err(|e| MachineError(e.to_string()))?;
        let cpus = if srat_cpus.is_empty() { String::new() } else { format!(", {} SRAT CPU entries", srat_cpus.len()) };
        Ok(Machine {
            name: format!(
                "e820 table ({} entries{}{cpus})",
                t.len(),
                if srat.is_empty() { String::new() } else { format!(", {} SRAT entries", srat.len()) }
            ),
            e820: t.entries().to_vec(),
            srat: srat.as_slice().to_vec(),
            srat_cpus: srat_cpus.as_slice().to_vec(),
            kernel: Some(X86_KERNEL),
            bda: Some(BiosDataArea { base_kb: 639, ebda_segment: 0x9fc0 }),
            ..Default::default()
        })
    }

    /// A machine from a flattened device tree blob, placed as QEMU's `virt` loader places
    /// things for `arch`: the DTB 128 MiB into RAM on arm64 (2 MiB-aligned below
    /// min(end of RAM, 3 GiB) on riscv64, with OpenSBI's own region), the kernel where
    /// Debian's 6.1 kernel lands with `nokaslr` (riscv64: OpenSBI's jump address).
    ///
    /// # Errors
    /// The parser's error for a malformed blob; a tree without memory.
    pub fn from_dtb(blob: &[u8], arch: ArchId) -> Result<Machine, MachineError> {
        let dt = archmm::devicetree::DtFirmware::from_blob(blob).map_err(|e| MachineError(e.to_string()))?;
        let mut m = Machine {
            name: "device tree".into(),
            banks: dt.banks().to_vec(),
            reserved: dt.reserved().to_vec(),
            dynamic: dt.dynamic().to_vec(),
            cpu_nodes: dt.cpu_nodes().to_vec(),
            numa_distances: dt.distances().map(<[_]>::to_vec),
            initrd: dt.initrd,
            ..Default::default()
        };
        let (base, end) = dt.span();
        let hdr_size = dt.totalsize;
        match arch {
            ArchId::Riscv64 => {
                let top = if base < 3 * GIB { end.min(3 * GIB) } else { end };
                let fdt = top.saturating_sub(hdr_size) & !(2 * MIB - 1);
                m.dtb = Some((fdt, fdt + hdr_size));
                m.kernel = Some((base + (RISCV_KERNEL.0 - 0x8000_0000), base + (RISCV_KERNEL.1 - 0x8000_0000)));
                if !m.reserved.iter().any(|r| r.base == base) {
                    m.reserved.push(opensbi_resv(base));
                }
            }
            ArchId::Arm => {
                m.dtb = Some((base + 128 * MIB, base + 128 * MIB + hdr_size));
                m.kernel = Some((base + (ARM_KERNEL.0 - GIB), base + (ARM_KERNEL.1 - GIB)));
            }
            ArchId::Loongarch64 | ArchId::S390 | ArchId::Powerpc => {
                let k = match arch {
                    ArchId::Loongarch64 => LOONGARCH_KERNEL,
                    ArchId::S390 => S390_KERNEL,
                    _ => PPC64_KERNEL,
                };
                m.kernel = Some((base + k.0, base + k.1));
                m.dtb = Some((end.saturating_sub(2 * MIB), end.saturating_sub(2 * MIB) + hdr_size));
            }
            _ => {
                m.dtb = Some((base + 128 * MIB, base + 128 * MIB + hdr_size));
                m.kernel = Some((base + (ARM64_KERNEL.0 - GIB), base + (ARM64_KERNEL.1 - GIB)));
            }
        }
        m.name = format!("device tree ({} memory banks, {} reserved ranges)", m.banks.len(), m.reserved.len());
        Ok(m)
    }

    /// A machine from a UEFI memory map: raw descriptors of `desc_size` bytes (version 1),
    /// or Linux's `efi: mem..` lines (from `efi=debug`) when the file is text that has
    /// them. On x86 the map becomes an e820 table as Linux's EFI stub and
    /// do_add_efi_memmap() build it; elsewhere each descriptor is added, marked NOMAP or
    /// reserved as drivers/firmware/efi/efi-init.c's reserve_regions() decides.
    ///
    /// # Errors
    /// The parser's error for a malformed map; a map without usable memory.
    pub fn from_uefi(bytes: &[u8], desc_size: usize, arch: ArchId) -> Result<Machine, MachineError> {
        use archmm::firmware::uefi::{self, dmesg::parse_efi_memmap, GenericDisposition, MemoryDescriptor, MemoryMap};
        let text = std::str::from_utf8(bytes).ok().filter(|t| t.contains("efi: mem"));
        let descs: Vec<MemoryDescriptor> = match text {
            Some(t) => parse_efi_memmap::<1024>(t).map_err(|e| MachineError(e.to_string()))?.as_slice().to_vec(),
            None => MemoryMap::new(bytes, desc_size, 1)
                .map_err(|e| MachineError(format!("bad UEFI memory map: {e}")))?
                .iter()
                .collect(),
        };
        if descs.is_empty() {
            return err("the UEFI memory map has no descriptors");
        }
        let mut m = Machine { name: format!("UEFI memory map ({} descriptors)", descs.len()), ..Default::default() };
        if arch.info().firmware == FirmwareKind::E820 {
            let mut t: archmm::firmware::e820::E820Table = archmm::firmware::e820::E820Table::new();
            let invalid = uefi::add_x86_efi_memmap(&mut t, descs.iter().copied(), false)
                .map_err(|e| MachineError(format!("UEFI map does not fit an e820 table: {e}")))?;
            if invalid > 0 {
                m.name.push_str(&format!(", {invalid} invalid dropped"));
            }
            m.e820 = t.entries().to_vec();
            m.kernel = Some(x86_kernel(arch));
            m.bda = Some(BiosDataArea { base_kb: 639, ebda_segment: 0x9fc0 });
            return Ok(m);
        }
        for md in &descs {
            let r = uefi::generic_region(md, 12, false).map_err(|e| MachineError(e.to_string()))?;
            if let GenericDisposition::Memory { nomap, reserved } = r.disposition {
                if r.size == 0 {
                    continue;
                }
                m.banks.push(MemBank { base: r.base, size: r.size, nid: None, hotplug: false });
                if nomap {
                    m.reserved.push(ResvRange { base: r.base, size: r.size, nomap: true });
                } else if reserved {
                    m.reserved.push(ResvRange { base: r.base, size: r.size, nomap: false });
                }
            }
        }
        let Some(first) =
            m.banks.iter().filter(|b| !m.reserved.iter().any(|r| r.nomap && r.base == b.base)).map(|b| b.base).min()
        else {
            return err("the UEFI memory map has no usable (write-back conventional) memory");
        };
        m.kernel = Some(match arch {
            ArchId::Riscv64 => (first + 0x20_0000, first + 0x20_0000 + (RISCV_KERNEL.1 - RISCV_KERNEL.0)),
            _ => (first + 0x21_0000, first + 0x21_0000 + (ARM64_KERNEL.1 - ARM64_KERNEL.0)),
        });
        Ok(m)
    }

    /// A machine from a TOML description.
    ///
    /// ```toml
    /// arch = "arm64"              # optional; --arch wins
    /// kernel = { base = 0x40210000, size = "32M" }
    /// initrd = { base = 0x48000000, size = "16M" }   # optional
    /// dtb = { base = 0x4a000000, size = "64K" }      # optional
    /// [[bank]]                    # RAM (device tree arches; e820 usable on x86)
    /// base = 0x40000000
    /// size = "4G"
    /// node = 0                    # optional
    /// hotplug = false             # optional
    /// [[reserved]]
    /// base = 0x50000000
    /// size = "1M"
    /// nomap = false
    /// [[e820]]                    # x86: raw e820 entries, type by Linux's name or number
    /// base = 0
    /// size = 0x9fc00
    /// type = "usable"
    /// ```
    ///
    /// # Errors
    /// A message naming the offending key.
    pub fn from_toml(text: &str, arch: ArchId) -> Result<(Machine, Option<ArchId>), MachineError> {
        let d: TomlMachine = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            MachineError(match line {
                Some(l) => format!("line {l}: {}", e.message().trim_end()),
                None => e.message().trim_end().to_string(),
            })
        })?;
        let file_arch = match &d.arch {
            Some(a) => Some(ArchId::from_name(a).ok_or_else(|| MachineError(format!("arch `{a}` is not known")))?),
            None => None,
        };
        let arch = file_arch.unwrap_or(arch);
        let range = |r: &Option<TomlRange>, what: &str| -> Result<Option<(u64, u64)>, MachineError> {
            match r {
                None => Ok(None),
                Some(r) => {
                    let (b, s) = (r.base.get(what)?, r.size.get(what)?);
                    let e = b.checked_add(s).ok_or_else(|| MachineError(format!("{what}: base + size wraps")))?;
                    Ok(Some((b, e)))
                }
            }
        };
        let mut m = Machine {
            name: "machine description".into(),
            kernel: range(&d.kernel, "kernel")?,
            initrd: range(&d.initrd, "initrd")?,
            dtb: range(&d.dtb, "dtb")?,
            ..Default::default()
        };
        for (i, b) in d.bank.iter().enumerate() {
            let what = format!("bank[{i}]");
            let (base, size) = (b.base.get(&what)?, b.size.get(&what)?);
            if base.checked_add(size).is_none() {
                return err(format!("{what}: base + size wraps past the top of the address space"));
            }
            m.banks.push(MemBank { base, size, nid: b.node, hotplug: b.hotplug.unwrap_or(false) });
        }
        for (i, r) in d.reserved.iter().enumerate() {
            let what = format!("reserved[{i}]");
            let (base, size) = (r.base.get(&what)?, r.size.get(&what)?);
            if base.checked_add(size).is_none() {
                return err(format!("{what}: base + size wraps past the top of the address space"));
            }
            m.reserved.push(ResvRange { base, size, nomap: r.nomap.unwrap_or(false) });
        }
        for (i, e) in d.e820.iter().enumerate() {
            let what = format!("e820[{i}]");
            let ty = match &e.r#type {
                TomlNum::Int(n) => E820Type(u32::try_from(*n).map_err(|_| MachineError(format!("{what}: bad type")))?),
                TomlNum::Str(s) => archmm::firmware::e820::dmesg::parse_type_name(s)
                    .ok_or_else(|| MachineError(format!("{what}: unknown e820 type `{s}`")))?,
            };
            m.e820.push(E820Entry::new(e.base.get(&what)?, e.size.get(&what)?, ty));
        }
        if arch.info().firmware == FirmwareKind::E820 {
            // Banks and reserved ranges become e820 entries on x86.
            for b in &m.banks {
                m.e820.push(E820Entry::new(b.base, b.size, E820Type::RAM));
            }
            for r in &m.reserved {
                m.e820.push(E820Entry::new(r.base, r.size, E820Type::RESERVED));
            }
            m.banks.clear();
            m.reserved.clear();
            m.bda = Some(BiosDataArea { base_kb: 639, ebda_segment: 0x9fc0 });
            if m.e820.is_empty() {
                return err("no [[bank]] or [[e820]] entries: the machine has no memory");
            }
        } else {
            if !m.e820.is_empty() {
                return err(format!("[[e820]] entries are for x86; {} takes [[bank]]", arch.info().name));
            }
            if m.banks.is_empty() {
                return err("no [[bank]] entries: the machine has no memory");
            }
        }
        Ok((m, file_arch))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TomlNum {
    Int(i64),
    Str(String),
}

impl TomlNum {
    fn get(&self, what: &str) -> Result<u64, MachineError> {
        match self {
            TomlNum::Int(n) => u64::try_from(*n).map_err(|_| MachineError(format!("{what}: negative number"))),
            TomlNum::Str(s) => {
                crate::script::parse_num(s).ok_or_else(|| MachineError(format!("{what}: bad number `{s}`")))
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRange {
    base: TomlNum,
    size: TomlNum,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlBank {
    base: TomlNum,
    size: TomlNum,
    node: Option<u32>,
    hotplug: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlResv {
    base: TomlNum,
    size: TomlNum,
    nomap: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlE820 {
    base: TomlNum,
    size: TomlNum,
    r#type: TomlNum,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlMachine {
    arch: Option<String>,
    kernel: Option<TomlRange>,
    initrd: Option<TomlRange>,
    dtb: Option<TomlRange>,
    #[serde(default)]
    bank: Vec<TomlBank>,
    #[serde(default)]
    reserved: Vec<TomlResv>,
    #[serde(default)]
    e820: Vec<TomlE820>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_pc_8g_matches_seabios_map() {
        let m = Machine::qemu(ArchId::X86_64, 8 * GIB, 1, X86MachineType::Pc).unwrap();
        let usable: Vec<_> = m.e820.iter().filter(|e| e.ty == E820Type::RAM).map(|e| (e.addr, e.size)).collect();
        assert_eq!(usable, [(0, 0x9fc00), (0x10_0000, 0xbfee_0000), (1 << 32, 0x1_4000_0000)]);
    }

    #[test]
    fn qemu_srat_cuts_pci_hole() {
        let m = Machine::qemu(ArchId::X86_64, 8 * GIB, 2, X86MachineType::Pc).unwrap();
        let s: Vec<_> = m.srat.iter().map(|s| (s.node, s.start, s.end)).collect();
        assert_eq!(
            s,
            [
                (0, 0, 0x9ffff),
                (0, 0x10_0000, 0xbfff_ffff),
                (0, 0x1_0000_0000, 0x1_3fff_ffff),
                (1, 0x1_4000_0000, 0x2_3fff_ffff)
            ]
        );
    }

    #[test]
    fn toml_machine_and_errors() {
        let (m, a) = Machine::from_toml(
            "arch = \"arm64\"\nkernel = { base = 0x40200000, size = \"16M\" }\n[[bank]]\nbase = 0x40000000\nsize = \"1G\"\nnode = 0\n",
            ArchId::X86_64,
        )
        .unwrap();
        assert_eq!(a, Some(ArchId::Arm64));
        assert_eq!(m.banks[0].size, GIB);
        assert!(Machine::from_toml("[[bank]]\nbase = 1\n", ArchId::Arm64).is_err());
        assert!(Machine::from_toml("[[bank]]\nbase = -1\nsize = 1\n", ArchId::Arm64).is_err());
        assert!(Machine::from_toml("[[bank]]\nbase = 0xffffffffffff0000\nsize = \"1G\"\n", ArchId::Arm64).is_err());
        assert!(Machine::from_toml("bogus = 1\n", ArchId::Arm64).is_err());
    }
}
