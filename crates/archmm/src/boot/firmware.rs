//! What the firmware and the boot loader hand the bring-up: RAM banks, reserved ranges,
//! the kernel image's placement and sections, and the firmware's own tables
//! ([`FirmwareMap`]), as plain data parsed beforehand.

use archmm_firmware::e820::dmesg::{SratCpuAffinity, SratMemAffinity};
use archmm_firmware::e820::E820Entry;

/// A bank of RAM as a device tree (or a machine description) gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemBank {
    /// First byte.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// `numa-node-id`, if given.
    pub nid: Option<u32>,
    /// `hotpluggable`.
    pub hotplug: bool,
}

/// A reserved range from firmware (/reserved-memory static regions, /memreserve/).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResvRange {
    /// First byte.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// `no-map`: keep out of the linear map (memblock NOMAP) instead of reserving.
    pub nomap: bool,
}

/// Most `alloc-ranges` a dynamic reserved region may list.
pub const MAX_ALLOC_RANGES: usize = 8;

/// A /reserved-memory region the kernel allocates (`size`, optional `alignment` and
/// `alloc-ranges`), as Linux's __reserved_mem_alloc_size() does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DynamicResv {
    /// Bytes to allocate.
    pub size: u64,
    /// Alignment (0: a page).
    pub align: u64,
    /// `no-map`.
    pub nomap: bool,
    /// `alloc-ranges` as `(base, size)`; none means anywhere.
    pub ranges: [(u64, u64); MAX_ALLOC_RANGES],
    /// Used entries of `ranges`.
    pub nranges: usize,
}

impl DynamicResv {
    /// Append an allocation range; `Err(())` when full.
    #[allow(clippy::result_unit_err)]
    pub fn push_range(&mut self, base: u64, size: u64) -> Result<(), ()> {
        let slot = self.ranges.get_mut(self.nranges).ok_or(())?;
        *slot = (base, size);
        self.nranges += 1;
        Ok(())
    }
}

/// Sizes of the kernel image's sections, for the `Memory:` line (Linux takes them from
/// the linker symbols _stext/_etext, _sdata/_edata, __start_rodata/__end_rodata,
/// __init_begin/__init_end, __bss_start/__bss_stop). The image is taken to hold them in
/// that order from its start, each page-aligned: text, rodata, rwdata, init, bss (x86-64's
/// and arm64's vmlinux.lds order), which is where free_initmem() finds the init sections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelSections {
    /// Text bytes.
    pub text: u64,
    /// Read-write data bytes.
    pub rwdata: u64,
    /// Read-only data bytes.
    pub rodata: u64,
    /// Init sections (code and data) bytes.
    pub init: u64,
    /// BSS bytes.
    pub bss: u64,
    /// Static per-CPU data bytes (__per_cpu_end - __per_cpu_start).
    pub percpu: u64,
}

impl KernelSections {
    /// The sections as a kernel's `Memory:` line gives them (`NK kernel code, NK rwdata,
    /// NK rodata, NK init, NK bss`, in KiB) and its static per-CPU bytes (`percpu: ... sN`).
    pub const fn from_memory_line(
        code_k: u64,
        rwdata_k: u64,
        rodata_k: u64,
        init_k: u64,
        bss_k: u64,
        percpu: u64,
    ) -> Self {
        const K: u64 = 1024;
        KernelSections {
            text: code_k * K,
            rwdata: rwdata_k * K,
            rodata: rodata_k * K,
            init: init_k * K,
            bss: bss_k * K,
            percpu,
        }
    }
}

/// Everything the firmware and the boot loader told the kernel about memory, in the
/// firmware's own terms: each field belongs to a firmware kind ([`crate::arch::FirmwareKind`]),
/// and only the hooks of arches of that kind read the ones the generic hooks do not.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirmwareMap<'a> {
    /// [`FirmwareKind::E820`](crate::arch::FirmwareKind::E820): the e820 table as the
    /// firmware handed it (unsanitised).
    pub e820: &'a [E820Entry],
    /// `E820` kind: the ACPI SRAT's memory affinity entries.
    pub srat: &'a [SratMemAffinity],
    /// `E820` kind: the ACPI SRAT's processor affinity (APIC id to node), in table order.
    pub srat_cpus: &'a [SratCpuAffinity],
    /// Device tree: the `numa-node-id` of each CPU node, in tree order (the order Linux
    /// numbers CPUs in when the boot CPU comes first).
    pub cpu_nodes: &'a [Option<u32>],
    /// Device tree: the `numa-distance-map-v1` entries `(node a, node b, distance)`, if the
    /// tree has such a map.
    pub numa_distances: Option<&'a [(u32, u32, u32)]>,
    /// RAM banks: device-tree /memory nodes, or the SCLP's storage increments.
    pub banks: &'a [MemBank],
    /// Device tree: reserved ranges.
    pub reserved: &'a [ResvRange],
    /// Device tree: reserved regions to allocate.
    pub dynamic: &'a [DynamicResv],
    /// The kernel image `[start, end)` in physical memory.
    pub kernel: Option<(u64, u64)>,
    /// The initrd `[start, end)`.
    pub initrd: Option<(u64, u64)>,
    /// The device tree blob `[start, end)` as placed in memory.
    pub dtb: Option<(u64, u64)>,
    /// The kernel image's section sizes.
    pub sections: KernelSections,
}
