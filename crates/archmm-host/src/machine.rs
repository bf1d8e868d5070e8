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

use archmm::arch::registry::ArchVisitor;
use archmm::arch::{Arch, ArchId, FirmwareKind};
use archmm::boot::{DynamicResv, FirmwareMap, KernelSections, MemBank, ResvRange};
use archmm::firmware::e820::dmesg::{SratCpuAffinity, SratMemAffinity};
use archmm::firmware::e820::{E820Entry, E820Type};
use archmm::machine::{MachineSink, QemuError};
use serde::Deserialize;

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

/// The built-in models write into a [`Machine`].
impl MachineSink for Machine {
    fn name(&mut self, name: std::fmt::Arguments<'_>) {
        self.name = name.to_string();
    }
    fn e820(&mut self, entry: E820Entry) {
        self.e820.push(entry);
    }
    fn srat(&mut self, entry: SratMemAffinity) {
        self.srat.push(entry);
    }
    fn bank(&mut self, bank: MemBank) {
        self.banks.push(bank);
    }
    /// A firmware region the tree already reserves at the same base is not added twice.
    fn reserved(&mut self, range: ResvRange) {
        if !self.reserved.iter().any(|r| r.base == range.base) {
            self.reserved.push(range);
        }
    }
    fn kernel(&mut self, start: u64, end: u64) {
        self.kernel = Some((start, end));
    }
    fn dtb(&mut self, start: u64, end: u64) {
        self.dtb = Some((start, end));
    }
    fn bios_data_area(&mut self, base_kb: u16, ebda_segment: u16) {
        self.bda = Some(BiosDataArea { base_kb, ebda_segment });
    }
}

/// Why a machine description was refused.
#[derive(Debug)]
pub struct MachineError(pub String);

impl std::fmt::Display for MachineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for MachineError {}

fn err<T>(s: impl Into<String>) -> Result<T, MachineError> {
    Err(MachineError(s.into()))
}

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
    /// nodes (0 or 1: no NUMA description), of QEMU machine type `machine` (`None`: QEMU's
    /// default for the arch; [`archmm::machine::QemuModel::QEMU_MACHINES`] lists them), as QEMU 7.2
    /// and its firmware describe it. The model is the arch's (its folder's `qemu.rs`).
    ///
    /// # Errors
    /// Sizes QEMU itself refuses or that make no sense (below 2 MiB, above 16 TiB), NUMA the
    /// machine or the reference kernel does not have, a machine type the arch lacks.
    pub fn qemu(arch: ArchId, mem: u64, nodes: u32, machine: Option<&str>) -> Result<Machine, MachineError> {
        struct Build<'a>(u64, u32, Option<&'a str>);
        impl ArchVisitor for Build<'_> {
            type Output = Result<Machine, QemuError>;
            fn visit<A: Arch>(self) -> Self::Output {
                let req = archmm::machine::request::<A>(self.0, self.1, self.2)?;
                let mut m = Machine::default();
                A::qemu_machine(&req, &mut m)?;
                Ok(m)
            }
        }
        arch.visit(Build(mem, nodes, machine)).map_err(|e| MachineError(e.to_string()))
    }

    /// Place the kernel and (given its size) the device tree blob as `arch`'s QEMU loader
    /// would for RAM `[start, end)` ([`archmm::machine::QemuModel::qemu_loader`]).
    pub fn place(&mut self, arch: ArchId, start: u64, end: u64, dtb: Option<u64>) {
        struct Place<'a>(&'a mut Machine, u64, u64, Option<u64>);
        impl ArchVisitor for Place<'_> {
            type Output = ();
            fn visit<A: Arch>(self) {
                A::qemu_loader(self.1, self.2, self.3, self.0);
            }
        }
        arch.visit(Place(self, start, end, dtb));
    }

    /// [`Machine::place`] for this machine's memory: from the lowest usable RAM (not
    /// no-map) to the end of RAM.
    pub fn place_as_qemu(&mut self, arch: ArchId, dtb: Option<u64>) {
        let usable = |b: &&MemBank| !self.reserved.iter().any(|r| r.nomap && r.base == b.base);
        let e820 = self.e820.iter().filter(|e| e.ty == E820Type::RAM).map(|e| e.addr);
        let start = self.banks.iter().filter(usable).map(|b| b.base).chain(e820).min().unwrap_or(0);
        let end = self.ram_end();
        self.place(arch, start, end, dtb);
    }

    /// [`Machine::place_as_qemu`], by value.
    #[must_use]
    pub fn placed_as_qemu(mut self, arch: ArchId, dtb: Option<u64>) -> Machine {
        self.place_as_qemu(arch, dtb);
        self
    }

    /// QEMU's split of RAM over `-numa node` entries that give no size
    /// ([`archmm::machine::node_sizes`]).
    pub fn qemu_node_sizes(mem: u64, nodes: u32, align_shift: u32) -> Vec<u64> {
        archmm::machine::node_sizes(mem, nodes, align_shift).collect()
    }

    /// A machine from Linux dmesg lines: `BIOS-e820:` entries, optional `ACPI: SRAT:`
    /// memory affinity lines and `SRAT: PXM .. -> APIC .. -> Node ..` processor affinity
    /// lines (without them CPUs are spread over the nodes round-robin, as Linux does for
    /// CPUs the SRAT does not place); everything else is ignored. The kernel (and the BIOS
    /// data area) where `arch`'s QEMU loader puts them.
    ///
    /// # Errors
    /// A message naming the bad line.
    pub fn from_e820_text(text: &str, arch: ArchId) -> Result<Machine, MachineError> {
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
            ..Default::default()
        }
        .placed_as_qemu(arch, None))
    }

    /// A machine from a flattened device tree blob, with the kernel and the blob where
    /// `arch`'s QEMU loader puts them ([`archmm::machine::QemuModel::qemu_loader`]: on arm64 the
    /// DTB 128 MiB into RAM, on riscv64 2 MiB-aligned below min(end of RAM, 3 GiB) with
    /// OpenSBI's own region; the kernel where Debian's 6.1 kernel lands with `nokaslr`).
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
        m.place(arch, base, end, Some(dt.totalsize));
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
            return Ok(m.placed_as_qemu(arch, None));
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
        if !m.banks.iter().any(|b| !m.reserved.iter().any(|r| r.nomap && r.base == b.base)) {
            return err("the UEFI memory map has no usable (write-back conventional) memory");
        }
        m.place_as_qemu(arch, None);
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
    const GIB: u64 = 1 << 30;
    use super::*;

    #[test]
    fn qemu_pc_8g_matches_seabios_map() {
        let m = Machine::qemu(ArchId::X86_64, 8 * GIB, 1, None).unwrap();
        let usable: Vec<_> = m.e820.iter().filter(|e| e.ty == E820Type::RAM).map(|e| (e.addr, e.size)).collect();
        assert_eq!(usable, [(0, 0x9fc00), (0x10_0000, 0xbfee_0000), (1 << 32, 0x1_4000_0000)]);
    }

    /// A machine type another arch's model has is refused with this arch's list; the
    /// x86 types give different maps.
    #[test]
    fn qemu_machine_types_are_the_arch_models() {
        let e = Machine::qemu(ArchId::Arm64, GIB, 1, Some("q35")).unwrap_err();
        assert_eq!(e.0, "arm64's built-in QEMU machines are virt");
        assert!(Machine::qemu(ArchId::X86_64, GIB, 1, Some("virt")).is_err());
        let pc = Machine::qemu(ArchId::X86_64, 4 * GIB, 1, Some("pc")).unwrap();
        let q35 = Machine::qemu(ArchId::X86_64, 4 * GIB, 1, Some("q35")).unwrap();
        assert_eq!(pc.e820, Machine::qemu(ArchId::X86_64, 4 * GIB, 1, None).unwrap().e820);
        assert_ne!(pc.e820, q35.e820);
        assert!(q35.name.starts_with("QEMU q35"), "{}", q35.name);
    }

    #[test]
    fn qemu_srat_cuts_pci_hole() {
        let m = Machine::qemu(ArchId::X86_64, 8 * GIB, 2, None).unwrap();
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
