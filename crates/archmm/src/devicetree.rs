//! A device tree's memory description as the bring-up takes it.
//!
//! [`DtFirmware`] turns what `archmm-firmware`'s FDT scanner found (memory banks,
//! `/memreserve/`, `/reserved-memory`, the initrd in `/chosen`) into the plain arrays a
//! [`FirmwareMap`] borrows, without a heap. A bare-metal kernel fills one from the blob its
//! boot protocol hands it; the host emulator fills one from a `.dtb` file. Both then boot
//! the same [`FirmwareMap`], so what a kernel does with QEMU's tree is what `archmm boot
//! --dtb` does with the same tree.

use crate::boot::{DynamicResv, FirmwareMap, KernelSections, MemBank, ResvRange, MAX_ALLOC_RANGES};
use archmm_firmware::fdt::memory::{scan_blob, DtMemoryError, DtMemoryMap, ReservedMemKind, MAX_CPU_NODES};
use core::fmt;

/// Most memory banks kept (Linux takes any number; its early memblock holds 128 regions).
pub const MAX_BANKS: usize = 1024;
/// Most static reserved ranges kept (`/memreserve/` plus `/reserved-memory` regs).
pub const MAX_RESERVED: usize = 128;
/// Most dynamic `/reserved-memory` regions kept (Linux's MAX_RESERVED_REGIONS).
pub const MAX_DYNAMIC: usize = 64;
/// Most NUMA distance-map entries kept (a full matrix of 32 nodes).
pub const MAX_DISTANCES: usize = 1024;

/// Why a device tree cannot describe a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtFirmwareError {
    /// The blob is malformed.
    Scan(DtMemoryError),
    /// No usable memory node (`device_type = "memory"` with `reg`).
    NoMemory,
    /// More reserved ranges than [`MAX_RESERVED`].
    TooManyReserved,
    /// A dynamic region with more `alloc-ranges` than [`MAX_ALLOC_RANGES`].
    TooManyAllocRanges,
    /// A NUMA distance map with more entries than [`MAX_DISTANCES`].
    TooManyDistances,
}

impl fmt::Display for DtFirmwareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtFirmwareError::Scan(e) => write!(f, "bad device tree: {e}"),
            DtFirmwareError::NoMemory => {
                f.write_str("the device tree has no usable memory node (device_type = \"memory\" with reg)")
            }
            DtFirmwareError::TooManyReserved => write!(f, "the device tree reserves more than {MAX_RESERVED} ranges"),
            DtFirmwareError::TooManyAllocRanges => {
                write!(f, "a /reserved-memory node has more than {MAX_ALLOC_RANGES} alloc-ranges")
            }
            DtFirmwareError::TooManyDistances => {
                write!(f, "the NUMA distance map has more than {MAX_DISTANCES} entries")
            }
        }
    }
}

impl core::error::Error for DtFirmwareError {}

/// The memory a device tree describes, in the bring-up's terms.
#[derive(Clone, Debug)]
pub struct DtFirmware {
    banks: [MemBank; MAX_BANKS],
    nbanks: usize,
    reserved: [ResvRange; MAX_RESERVED],
    nreserved: usize,
    dynamic: [DynamicResv; MAX_DYNAMIC],
    ndynamic: usize,
    cpu_nodes: [Option<u32>; MAX_CPU_NODES],
    ncpus: usize,
    distances: [(u32, u32, u32); MAX_DISTANCES],
    ndistances: usize,
    has_distance_map: bool,
    /// The initrd from `/chosen`.
    pub initrd: Option<(u64, u64)>,
    /// The blob's size as its header declares it (`totalsize`).
    pub totalsize: u64,
}

impl DtFirmware {
    /// Scan a flattened device tree blob.
    ///
    /// # Errors
    /// [`DtFirmwareError`] for a malformed blob, a tree without memory, or more entries
    /// than the fixed tables hold.
    pub fn from_blob(blob: &[u8]) -> Result<Self, DtFirmwareError> {
        let map = scan_blob(blob).map_err(DtFirmwareError::Scan)?;
        let totalsize =
            blob.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64).unwrap_or(blob.len() as u64);
        let mut fw = Self::from_scan(&map)?;
        fw.totalsize = totalsize;
        Ok(fw)
    }

    /// Convert a scanned tree: banks in tree order (with `numa-node-id` and
    /// `hotpluggable`), `/memreserve/` then static `/reserved-memory` regions, dynamic
    /// regions with their alignment and `alloc-ranges`, the CPUs' `numa-node-id`s, the NUMA
    /// distance map.
    ///
    /// # Errors
    /// As [`DtFirmware::from_blob`].
    pub fn from_scan(map: &DtMemoryMap<'_>) -> Result<Self, DtFirmwareError> {
        let mut fw = DtFirmware {
            banks: [MemBank::default(); MAX_BANKS],
            nbanks: 0,
            reserved: [ResvRange::default(); MAX_RESERVED],
            nreserved: 0,
            dynamic: [DynamicResv::default(); MAX_DYNAMIC],
            ndynamic: 0,
            cpu_nodes: [None; MAX_CPU_NODES],
            ncpus: 0,
            distances: [(0, 0, 0); MAX_DISTANCES],
            ndistances: 0,
            has_distance_map: map.distance_matrix.is_some(),
            initrd: map.chosen.initrd.map(|i| (i.start, i.end)),
            totalsize: 0,
        };
        // The scanner holds at most MAX_MEMORY_BANKS (= MAX_BANKS) banks.
        for b in map.banks.iter().take(MAX_BANKS) {
            fw.banks[fw.nbanks] = MemBank { base: b.base, size: b.size, nid: b.numa_node_id, hotplug: b.hotpluggable };
            fw.nbanks += 1;
        }
        if fw.nbanks == 0 {
            return Err(DtFirmwareError::NoMemory);
        }
        let statics = map.memreserve.iter().map(|&(base, size)| (base, size, false)).chain(map.static_reserved());
        for (base, size, nomap) in statics {
            let slot = fw.reserved.get_mut(fw.nreserved).ok_or(DtFirmwareError::TooManyReserved)?;
            *slot = ResvRange { base, size, nomap };
            fw.nreserved += 1;
        }
        for n in map.reserved_nodes.iter() {
            if let ReservedMemKind::Dynamic { size, alignment, alloc_ranges } = n.kind {
                let mut d = DynamicResv { size, align: alignment.unwrap_or(0), nomap: n.no_map, ..Default::default() };
                for r in alloc_ranges.into_iter().flatten() {
                    d.push_range(r.0, r.1).map_err(|()| DtFirmwareError::TooManyAllocRanges)?;
                }
                let slot = fw.dynamic.get_mut(fw.ndynamic).ok_or(DtFirmwareError::TooManyReserved)?;
                *slot = d;
                fw.ndynamic += 1;
            }
        }
        for (slot, &n) in fw.cpu_nodes.iter_mut().zip(map.cpu_nodes.iter()) {
            *slot = n;
            fw.ncpus += 1;
        }
        for d in map.distances() {
            *fw.distances.get_mut(fw.ndistances).ok_or(DtFirmwareError::TooManyDistances)? = d;
            fw.ndistances += 1;
        }
        Ok(fw)
    }

    /// The RAM banks.
    pub fn banks(&self) -> &[MemBank] {
        &self.banks[..self.nbanks]
    }

    /// The static reserved ranges.
    pub fn reserved(&self) -> &[ResvRange] {
        &self.reserved[..self.nreserved]
    }

    /// The dynamic regions to allocate.
    pub fn dynamic(&self) -> &[DynamicResv] {
        &self.dynamic[..self.ndynamic]
    }

    /// Each CPU node's `numa-node-id`, in tree order.
    pub fn cpu_nodes(&self) -> &[Option<u32>] {
        &self.cpu_nodes[..self.ncpus]
    }

    /// The NUMA distance map's `(node a, node b, distance)` entries, if the tree has one.
    pub fn distances(&self) -> Option<&[(u32, u32, u32)]> {
        self.has_distance_map.then(|| &self.distances[..self.ndistances])
    }

    /// Add a reserved range the firmware below the kernel keeps for itself without saying
    /// so in this tree (e.g. OpenSBI's region in a tree dumped from QEMU before OpenSBI
    /// amended it). Ranges already listed at `base` are left alone.
    ///
    /// # Errors
    /// [`DtFirmwareError::TooManyReserved`] when the table is full.
    pub fn add_reserved(&mut self, r: ResvRange) -> Result<(), DtFirmwareError> {
        if self.reserved().iter().any(|x| x.base == r.base) {
            return Ok(());
        }
        let slot = self.reserved.get_mut(self.nreserved).ok_or(DtFirmwareError::TooManyReserved)?;
        *slot = r;
        self.nreserved += 1;
        Ok(())
    }

    /// `[lowest bank base, highest bank end)`.
    pub fn span(&self) -> (u64, u64) {
        let base = self.banks().iter().map(|b| b.base).min().unwrap_or(0);
        let end = self.banks().iter().map(|b| b.base.saturating_add(b.size)).max().unwrap_or(0);
        (base, end)
    }

    /// The firmware map to boot, with the kernel image and the blob placed where the boot
    /// protocol put them.
    pub fn firmware_map(
        &self,
        kernel: Option<(u64, u64)>,
        dtb: Option<(u64, u64)>,
        sections: KernelSections,
    ) -> FirmwareMap<'_> {
        FirmwareMap {
            banks: self.banks(),
            reserved: self.reserved(),
            dynamic: self.dynamic(),
            cpu_nodes: self.cpu_nodes(),
            numa_distances: self.distances(),
            kernel,
            initrd: self.initrd,
            dtb,
            sections,
            ..Default::default()
        }
    }
}
