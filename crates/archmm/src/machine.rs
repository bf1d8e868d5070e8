//! Built-in machine models: what a QEMU 7.2 machine's firmware and loader hand the kernel,
//! so that a bring-up can run on a machine no one had to describe by hand (the host
//! emulator's default machines, the tests).
//!
//! Each architecture describes its own QEMU machine in its folder (`arch/<name>/qemu.rs`,
//! reached through [`QemuModel`]); this module holds what the models share: the
//! request, the [`MachineSink`] a model writes to (no heap: the caller stores what it
//! needs), QEMU's split of memory over NUMA nodes, and the refusals every model makes.

use crate::arch::Arch;
use crate::boot::{MemBank, ResvRange};
use archmm_firmware::e820::dmesg::SratMemAffinity;
use archmm_firmware::e820::E820Entry;
use core::fmt;

/// What a built-in machine is asked to be: QEMU's `-m`, `-numa node` count and `-M`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QemuRequest<'a> {
    /// Bytes of RAM (already rounded as QEMU rounds `-m`).
    pub mem: u64,
    /// NUMA nodes (1: no NUMA description).
    pub nodes: u32,
    /// The QEMU machine type, one of the arch's [`QemuModel::QEMU_MACHINES`].
    pub machine: &'a str,
}

/// Where a machine model writes what the firmware and the loader describe.
pub trait MachineSink {
    /// The machine's one-line description (`QEMU pc (i440FX + PIIX, SeaBIOS), 8192 MiB`).
    fn name(&mut self, name: fmt::Arguments<'_>);
    /// An e820 entry, in the firmware's order.
    fn e820(&mut self, entry: E820Entry);
    /// An ACPI SRAT memory affinity entry.
    fn srat(&mut self, entry: SratMemAffinity);
    /// A RAM bank (a device-tree /memory node, an SCLP storage range).
    fn bank(&mut self, bank: MemBank);
    /// A firmware-reserved range (/reserved-memory, an SBI firmware's own region).
    fn reserved(&mut self, range: ResvRange);
    /// Where the loader put the kernel image `[start, end)`.
    fn kernel(&mut self, start: u64, end: u64);
    /// Where the loader put the device tree blob `[start, end)`.
    fn dtb(&mut self, start: u64, end: u64);
    /// The x86 BIOS data area's words: base memory in KiB, the EBDA segment.
    fn bios_data_area(&mut self, base_kb: u16, ebda_segment: u16);
}

/// Why a built-in machine cannot be built: the request names something QEMU refuses or
/// the model does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QemuError {
    /// Less than QEMU's minimum.
    TooSmall {
        /// The size asked for.
        mem: u64,
    },
    /// More than any QEMU machine takes.
    TooLarge {
        /// The size asked for.
        mem: u64,
    },
    /// The memory does not fit the model (e.g. less than one storage increment).
    Memory {
        /// The size asked for.
        mem: u64,
        /// Why.
        why: &'static str,
    },
    /// The machine or its reference kernel has no NUMA the model could describe.
    NoNuma {
        /// The nodes asked for.
        nodes: u32,
        /// Why.
        why: &'static str,
    },
    /// The reference kernel is built without CONFIG_NUMA.
    NotNumaKernel {
        /// The nodes asked for.
        nodes: u32,
        /// The arch's Linux name.
        arch: &'static str,
    },
    /// More nodes than the reference kernel takes.
    TooManyNodes {
        /// The nodes asked for.
        nodes: u32,
        /// The arch's Linux name.
        arch: &'static str,
        /// MAX_NUMNODES.
        max: u32,
    },
    /// A machine type the arch's model does not know.
    UnknownMachine {
        /// The arch's Linux name.
        arch: &'static str,
        /// The machine types it knows.
        known: &'static [&'static str],
    },
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QemuError::TooSmall { mem } => write!(f, "--mem {mem:#x}: QEMU machines need at least 2 MiB"),
            QemuError::TooLarge { mem } => write!(f, "--mem {mem:#x}: more than 16 TiB is not a QEMU machine"),
            QemuError::Memory { mem, why } => write!(f, "--mem {mem:#x}: {why}"),
            QemuError::NoNuma { nodes, why } => write!(f, "--numa {nodes}: {why}"),
            QemuError::NotNumaKernel { nodes, arch } => write!(
                f,
                "--numa {nodes}: the {arch} reference kernel (Debian's) is built without CONFIG_NUMA and would see one node"
            ),
            QemuError::TooManyNodes { nodes, arch, max } => write!(
                f,
                "--numa {nodes}: {arch}'s Linux 6.1 takes at most {max} NUMA nodes (CONFIG_NODES_SHIFT={})",
                max.trailing_zeros()
            ),
            QemuError::UnknownMachine { arch, known } => {
                write!(f, "{arch}'s built-in QEMU machines are ")?;
                for (i, k) in known.iter().enumerate() {
                    write!(f, "{}{k}", if i == 0 { "" } else { ", " })?;
                }
                Ok(())
            }
        }
    }
}

impl core::error::Error for QemuError {}

/// The request for `mem` bytes over `nodes` nodes on machine type `machine` (`None`: the
/// arch's default, the first of [`QemuModel::QEMU_MACHINES`]), checked against what QEMU and
/// the reference kernel refuse (the model's own NUMA refusal, [`QemuModel::QEMU_NO_NUMA`],
/// first), with `-m` rounded as QEMU rounds it (to 8 KiB, set_memory_options()).
///
/// # Errors
/// A [`QemuError`] naming what QEMU or the reference kernel refuses.
pub fn request<'a, A: Arch>(mem: u64, nodes: u32, machine: Option<&'a str>) -> Result<QemuRequest<'a>, QemuError> {
    if mem < 2 << 20 {
        return Err(QemuError::TooSmall { mem });
    }
    if mem > 16 << 40 {
        return Err(QemuError::TooLarge { mem });
    }
    let machine = match machine {
        None => A::QEMU_MACHINES.first().copied().unwrap_or(""),
        Some(m) if A::QEMU_MACHINES.contains(&m) => m,
        Some(_) => return Err(QemuError::UnknownMachine { arch: A::NAME, known: A::QEMU_MACHINES }),
    };
    let req = QemuRequest { mem: mem.next_multiple_of(8 << 10), nodes: nodes.max(1), machine };
    if let (true, Some(why)) = (req.nodes > 1, A::QEMU_NO_NUMA) {
        return Err(QemuError::NoNuma { nodes: req.nodes, why });
    }
    check_nodes::<A>(&req)?;
    Ok(req)
}

/// The generic refusal of a NUMA request: the reference kernel must have CONFIG_NUMA and
/// take that many nodes.
///
/// # Errors
/// [`QemuError::NotNumaKernel`] or [`QemuError::TooManyNodes`].
fn check_nodes<A: Arch>(req: &QemuRequest<'_>) -> Result<(), QemuError> {
    let nodes = req.nodes;
    if nodes < 2 {
        return Ok(());
    }
    if !A::NUMA {
        return Err(QemuError::NotNumaKernel { nodes, arch: A::NAME });
    }
    let max = 1u32 << A::NODES_SHIFT;
    if nodes > max {
        return Err(QemuError::TooManyNodes { nodes, arch: A::NAME, max });
    }
    Ok(())
}

/// QEMU's split of RAM over `-numa node` entries that give no size
/// (numa_default_auto_split()): every node but the last gets `mem / nodes` rounded down to
/// the machine's numa_mem_align_shift (8 MiB; pseries 256 MiB), the last the rest. Nodes
/// can end up with no memory (memoryless), as in QEMU.
pub fn node_sizes(mem: u64, nodes: u32, align_shift: u32) -> impl Iterator<Item = u64> {
    let nodes = u64::from(nodes.max(1));
    let each = (mem / nodes) & !((1u64 << align_shift) - 1);
    (0..nodes).map(move |i| if i + 1 < nodes { each } else { mem - each * (nodes - 1) })
}

/// Banks of QEMU's auto-split node sizes, one per node with memory, consecutive from
/// `base` (the `virt` machines' /memory nodes); node ids only when there are several.
pub fn node_banks(base: u64, mem: u64, nodes: u32, out: &mut dyn MachineSink) {
    let mut at = base;
    for (i, size) in node_sizes(mem, nodes, 23).enumerate() {
        if size != 0 {
            out.bank(MemBank { base: at, size, nid: (nodes > 1).then_some(i as u32), hotplug: false });
        }
        at += size;
    }
}

/// `, N NUMA nodes` after a machine's name when it has several.
#[derive(Clone, Copy, Debug)]
pub struct NumaSuffix(pub u32);

impl fmt::Display for NumaSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, ", {} NUMA nodes", self.0)
        } else {
            Ok(())
        }
    }
}

/// Where a loader puts the device tree blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbAt {
    /// This many bytes into RAM (QEMU's arm `-kernel` loader: 128 MiB).
    FromStart(u64),
    /// This many bytes below the end of RAM.
    BelowEnd(u64),
}

/// A loader's placement: the reference kernel `image` (seen with RAM at `linked_base`) at
/// the same offset into RAM from `ram_start`, and, given its size, the blob where `at`
/// says in RAM `[ram_start, ram_end)`.
pub fn load(
    out: &mut dyn MachineSink,
    image: (u64, u64),
    linked_base: u64,
    (ram_start, ram_end): (u64, u64),
    dtb: Option<u64>,
    at: DtbAt,
) {
    let k = moved(image, linked_base, ram_start);
    out.kernel(k.0, k.1);
    if let Some(size) = dtb {
        let start = match at {
            DtbAt::FromStart(off) => ram_start + off,
            DtbAt::BelowEnd(off) => ram_end.saturating_sub(off),
        };
        out.dtb(start, start + size);
    }
}

/// A kernel image `(start, end)` of a reference kernel loaded at `base` instead of
/// `linked_base` (where the capture saw it).
pub const fn moved(image: (u64, u64), linked_base: u64, base: u64) -> (u64, u64) {
    (base + (image.0 - linked_base), base + (image.1 - linked_base))
}

/// Where a bare-metal kernel's memory map comes from, and so how the host gets the same
/// map to compare its own bring-up with the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemorySource {
    /// The firmware's e820 table, which the kernel prints as `BIOS-e820:` lines.
    E820,
    /// The device tree QEMU generates (`-machine dumpdtb=` gives the host the same blob).
    DeviceTree,
    /// fw_cfg's `etc/memmap` (QEMU 7.2's loongarch `virt` device tree has no /memory
    /// node): the kernel prints the entries; the host has the machine's model, which must
    /// agree with them.
    FwCfgMemmap,
}

/// How an arch's bare-metal kernel (`kernels/`) is built and booted under QEMU, where the
/// arch has one ([`QemuModel::BARE_METAL_KERNEL`]).
#[derive(Clone, Copy, Debug)]
pub struct BareMetalKernel {
    /// rustup's bare-metal target.
    pub rust_target: &'static str,
    /// The QEMU binary.
    pub qemu: &'static str,
    /// Machine and CPU arguments.
    pub machine: &'static [&'static str],
    /// Arguments of the device the kernel exits through.
    pub exit_device: &'static [&'static str],
    /// QEMU's exit status when the kernel reports success.
    pub pass_status: i32,
    /// How the kernel exits.
    pub exit_how: &'static str,
    /// rustup ships no prebuilt `core` for the target: build it from the rust-src
    /// component (`-Z build-std`, allowed on the stable toolchain by RUSTC_BOOTSTRAP=1,
    /// for this build only).
    pub build_std: bool,
    /// The smallest `-m` the machine accepts.
    pub min_mem: u64,
    /// Where the memory map comes from.
    pub memory: MemorySource,
}

/// An arch's built-in QEMU model (its folder's `qemu.rs`): every [`Arch`] has one.
pub trait QemuModel {
    /// The QEMU machine types of the model (`-M`), QEMU's default first.
    const QEMU_MACHINES: &'static [&'static str];
    /// Why the model has no NUMA (`--numa` is refused with it), if it has none.
    const QEMU_NO_NUMA: Option<&'static str> = None;
    /// How the arch's bare-metal kernel (`kernels/`) is built and booted under QEMU, if
    /// it has one.
    const BARE_METAL_KERNEL: Option<BareMetalKernel> = None;

    /// The built-in QEMU 7.2 machine: the firmware's memory map and the loader's
    /// placements for `req`, written to `out`. `req` comes from [`request`], which made
    /// the refusals every model makes.
    ///
    /// # Errors
    /// A [`QemuError`] for memory the model cannot describe.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError>;

    /// Where QEMU's loader (and the firmware that runs before the kernel) puts the
    /// reference kernel and, given its size `dtb`, the device tree blob, for a memory map
    /// that came from elsewhere (a DTB, UEFI map or e820 dump) whose usable RAM starts at
    /// `ram_start` and ends at `ram_end`; with any firmware reservations that go with it.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink);
}
