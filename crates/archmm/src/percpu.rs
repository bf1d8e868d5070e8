//! The first per-CPU chunk, laid out as Linux's embed allocator lays it out
//! (mm/percpu.c: pcpu_build_alloc_info, pcpu_embed_first_chunk).
//!
//! Each possible CPU gets a unit holding the kernel's static per-CPU data, a reserved part
//! for modules and a dynamic part. Units are grouped by NUMA node; allocations are a multiple
//! of the arch's atom size (x86-64 uses PMD-sized atoms so the area can be mapped with large
//! pages, others a page), and several units share an allocation when that wastes less than a
//! third. The memory comes from memblock on each group's node; the tail of each unit beyond
//! what it needs is given back.
//!
//! The dynamic part of every unit is then an allocator of its own ([`PcpuChunk`], Linux's
//! alloc_percpu() on the first chunk): one allocation is the same offset in every CPU's
//! unit ([`PcpuPtr`], a `__percpu` pointer), and [`PcpuChunk::addr`] is per_cpu_ptr(). The
//! page allocator keeps each zone's per-CPU page lists there.

use crate::addr::PhysAddr;
use crate::buddy::SpinLock;
use crate::memblock::Memblock;
use crate::physmem::PhysMem;
use core::fmt::{self, Write};

/// Most CPUs the first chunk is laid out for.
pub const MAX_CPUS: usize = 256;
/// PERCPU_MODULE_RESERVE.
pub const PERCPU_MODULE_RESERVE: u64 = 8 << 10;
/// PERCPU_DYNAMIC_RESERVE on 64-bit.
pub const PERCPU_DYNAMIC_RESERVE: u64 = 28 << 10;
/// PERCPU_DYNAMIC_EARLY_SIZE.
pub const PERCPU_DYNAMIC_EARLY_SIZE: u64 = 20 << 10;
/// PCPU_MIN_UNIT_SIZE.
pub const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;

/// The layout of the first chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpuLayout {
    /// Static per-CPU data of the kernel image.
    pub static_size: u64,
    /// Reserved for modules.
    pub reserved_size: u64,
    /// Dynamic area.
    pub dyn_size: u64,
    /// Bytes per unit (per CPU).
    pub unit_size: u64,
    /// Bytes per allocation.
    pub alloc_size: u64,
    /// Allocation granule.
    pub atom_size: u64,
    /// Units per allocation.
    pub upa: u64,
    /// Bytes each unit uses (the rest of a unit is given back).
    pub size_sum: u64,
    /// CPUs.
    pub cpus: usize,
    /// Node of each CPU.
    pub cpu_node: [u16; MAX_CPUS],
    /// Groups (distinct nodes, in order of first CPU).
    pub nr_groups: usize,
    /// Group of each CPU.
    pub cpu_group: [u16; MAX_CPUS],
}

/// Why the first chunk could not be set up, or a per-CPU allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PercpuError {
    /// More CPUs than [`MAX_CPUS`] or none.
    BadCpuCount(usize),
    /// memblock could not provide a group's allocation.
    NoMemory {
        /// Bytes asked for.
        size: u64,
    },
    /// The dynamic area has no free run this large at this alignment.
    DynamicFull {
        /// Bytes asked for.
        size: u64,
    },
    /// A size of zero, or an alignment that is not a power of two.
    BadRequest {
        /// Bytes asked for.
        size: u64,
        /// Alignment asked for.
        align: u64,
    },
    /// free_percpu() of an offset that does not start an allocation (double free).
    NotAllocated(u64),
}

impl core::error::Error for PercpuError {}

impl fmt::Display for PercpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PercpuError::BadCpuCount(n) => write!(f, "{n} CPUs (1 to {MAX_CPUS} supported)"),
            PercpuError::NoMemory { size } => write!(f, "no memory for a {size:#x}-byte per-CPU allocation"),
            PercpuError::DynamicFull { size } => {
                write!(f, "no room for {size} bytes in the first chunk's dynamic area")
            }
            PercpuError::BadRequest { size, align } => {
                write!(f, "bad per-CPU request: {size} bytes aligned to {align}")
            }
            PercpuError::NotAllocated(off) => write!(f, "per-CPU offset {off:#x} is not an allocation (double free?)"),
        }
    }
}

/// The first per-CPU chunk as set up: its layout and each CPU's unit in physical memory.
#[derive(Clone, Copy, Debug)]
pub struct PercpuAreas {
    /// Sizes, groups, CPU to node.
    pub layout: PcpuLayout,
    /// Physical address of each CPU's unit (`layout.cpus` used).
    pub unit_base: [u64; MAX_CPUS],
}

/// A per-CPU allocation (Linux's `__percpu` pointer): the same offset in every unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PcpuPtr(pub u64);

/// Granule of the dynamic area's allocation map (bytes).
pub const PCPU_ALLOC_GRANULE: u64 = 16;
/// Largest alignment a per-CPU allocation may ask for: the smallest page size. Units start
/// on page boundaries, so an offset aligned to this is an address aligned to it in every
/// unit (pcpu_alloc() likewise refuses alignments above PAGE_SIZE).
pub const PCPU_MAX_ALIGN: u64 = 4096;
/// Most granules the map covers (a dynamic area above 128 KiB is used up to that).
const MAP_GRANULES: usize = 8192;

/// The allocation map: which granules are taken, and where each allocation starts
/// (Linux's alloc_map and bound_map).
#[derive(Debug)]
struct AllocMap {
    used: [u64; MAP_GRANULES / 64],
    start: [u64; MAP_GRANULES / 64],
    nr_alloc: u64,
}

fn bit(map: &[u64], i: usize) -> bool {
    map[i / 64] & (1 << (i % 64)) != 0
}

fn set_bit(map: &mut [u64], i: usize, v: bool) {
    if v {
        map[i / 64] |= 1 << (i % 64);
    } else {
        map[i / 64] &= !(1 << (i % 64));
    }
}

/// What `/sys/kernel/debug/percpu_stats` says of the first chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkStats {
    /// Live allocations.
    pub nr_alloc: u64,
    /// Free bytes in the dynamic area.
    pub free_bytes: u64,
    /// Largest free run (bytes).
    pub contig_bytes: u64,
    /// Offset of the first free byte in the unit.
    pub first_free: u64,
}

/// The dynamic area of the first chunk as an allocator (pcpu_alloc() / free_percpu()).
#[derive(Debug)]
pub struct PcpuChunk {
    unit_base: [u64; MAX_CPUS],
    cpus: usize,
    /// Offset of the dynamic area in each unit (static + reserved sizes).
    dyn_start: u64,
    granules: usize,
    map: SpinLock<AllocMap>,
}

impl PcpuChunk {
    /// The allocator over the dynamic area of `areas`; nothing is allocated yet.
    pub fn new(areas: &PercpuAreas) -> Self {
        let l = &areas.layout;
        let dyn_start = (l.static_size + l.reserved_size).next_multiple_of(PCPU_ALLOC_GRANULE);
        let granules = (((l.size_sum.saturating_sub(dyn_start)) / PCPU_ALLOC_GRANULE) as usize).min(MAP_GRANULES);
        Self {
            unit_base: areas.unit_base,
            cpus: l.cpus,
            dyn_start,
            granules,
            map: SpinLock::new(AllocMap { used: [0; MAP_GRANULES / 64], start: [0; MAP_GRANULES / 64], nr_alloc: 0 }),
        }
    }

    /// CPUs with a unit.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// per_cpu_ptr(): where CPU `cpu`'s copy of `p` is; `None` for a CPU without a unit.
    #[inline]
    pub fn addr(&self, p: PcpuPtr, cpu: usize) -> Option<PhysAddr> {
        (cpu < self.cpus).then(|| PhysAddr(self.unit_base[cpu] + p.0))
    }

    /// alloc_percpu(): `size` bytes aligned to `align` (a power of two) in every unit,
    /// zeroed in every CPU's copy. First fit, as the first chunk's area map does it.
    ///
    /// # Errors
    /// [`PercpuError::BadRequest`], [`PercpuError::DynamicFull`].
    pub fn alloc<M: PhysMem + ?Sized>(&self, mem: &M, size: u64, align: u64) -> Result<PcpuPtr, PercpuError> {
        if size == 0 || !align.is_power_of_two() || align > PCPU_MAX_ALIGN {
            return Err(PercpuError::BadRequest { size, align });
        }
        if size > (self.granules as u64) * PCPU_ALLOC_GRANULE {
            return Err(PercpuError::DynamicFull { size });
        }
        let n = size.div_ceil(PCPU_ALLOC_GRANULE) as usize;
        let p = self.map.with(|m| {
            let mut g = 0usize;
            while g + n <= self.granules {
                let off = self.dyn_start + g as u64 * PCPU_ALLOC_GRANULE;
                if !off.is_multiple_of(align) {
                    g = ((off.next_multiple_of(align) - self.dyn_start) / PCPU_ALLOC_GRANULE) as usize;
                    continue;
                }
                match (g..g + n).find(|&i| bit(&m.used, i)) {
                    Some(taken) => g = taken + 1,
                    None => {
                        for i in g..g + n {
                            set_bit(&mut m.used, i, true);
                        }
                        set_bit(&mut m.start, g, true);
                        m.nr_alloc += 1;
                        return Some(PcpuPtr(off));
                    }
                }
            }
            None
        });
        let p = p.ok_or(PercpuError::DynamicFull { size })?;
        for cpu in 0..self.cpus {
            mem.zero(PhysAddr(self.unit_base[cpu] + p.0), n as u64 * PCPU_ALLOC_GRANULE);
        }
        Ok(p)
    }

    /// free_percpu(): give back the allocation that starts at `p`.
    ///
    /// # Errors
    /// [`PercpuError::NotAllocated`] (nothing changes) when `p` starts no allocation.
    pub fn free(&self, p: PcpuPtr) -> Result<(), PercpuError> {
        let g =
            p.0.checked_sub(self.dyn_start)
                .filter(|o| o.is_multiple_of(PCPU_ALLOC_GRANULE))
                .map(|o| (o / PCPU_ALLOC_GRANULE) as usize);
        self.map.with(|m| {
            let g = g.filter(|&g| g < self.granules && bit(&m.start, g)).ok_or(PercpuError::NotAllocated(p.0))?;
            set_bit(&mut m.start, g, false);
            let mut i = g;
            while i < self.granules && bit(&m.used, i) && (i == g || !bit(&m.start, i)) {
                set_bit(&mut m.used, i, false);
                i += 1;
            }
            m.nr_alloc -= 1;
            Ok(())
        })
    }

    /// The chunk's allocation statistics.
    pub fn stats(&self) -> ChunkStats {
        self.map.with(|m| {
            let (mut free, mut run, mut best, mut first) = (0u64, 0u64, 0u64, None);
            for i in 0..self.granules {
                if bit(&m.used, i) {
                    run = 0;
                } else {
                    free += 1;
                    run += 1;
                    best = best.max(run);
                    first.get_or_insert(i as u64);
                }
            }
            ChunkStats {
                nr_alloc: m.nr_alloc,
                free_bytes: free * PCPU_ALLOC_GRANULE,
                contig_bytes: best * PCPU_ALLOC_GRANULE,
                first_free: self.dyn_start + first.unwrap_or(self.granules as u64) * PCPU_ALLOC_GRANULE,
            }
        })
    }
}

fn page_align(x: u64, page: u64) -> u64 {
    x.div_ceil(page) * page
}

impl PcpuLayout {
    /// pcpu_build_alloc_info(): the layout for `cpus` CPUs on the nodes `node_of(cpu)`.
    ///
    /// # Errors
    /// [`PercpuError::BadCpuCount`].
    pub fn build(
        static_size: u64,
        atom_size: u64,
        page: u64,
        cpus: usize,
        node_of: impl Fn(usize) -> u16,
    ) -> Result<Self, PercpuError> {
        Self::build_reserved(static_size, PERCPU_MODULE_RESERVE, PERCPU_DYNAMIC_RESERVE, atom_size, page, cpus, node_of)
    }

    /// [`PcpuLayout::build`] with `reserved_size` bytes reserved for modules instead of
    /// PERCPU_MODULE_RESERVE (x86-32 and powerpc reserve none) and `dyn_size` of dynamic
    /// space asked for instead of PERCPU_DYNAMIC_RESERVE (powerpc asks for 36 KiB).
    ///
    /// # Errors
    /// [`PercpuError::BadCpuCount`].
    pub fn build_reserved(
        static_size: u64,
        reserved_size: u64,
        dyn_size: u64,
        atom_size: u64,
        page: u64,
        cpus: usize,
        node_of: impl Fn(usize) -> u16,
    ) -> Result<Self, PercpuError> {
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(PercpuError::BadCpuCount(cpus));
        }
        let size_sum = page_align(static_size + reserved_size + dyn_size.max(PERCPU_DYNAMIC_EARLY_SIZE), page);
        let dyn_size = size_sum - static_size - reserved_size;
        let min_unit_size = size_sum.max(PCPU_MIN_UNIT_SIZE);
        let alloc_size = min_unit_size.div_ceil(atom_size) * atom_size;
        let fits = |upa: u64| alloc_size.is_multiple_of(upa) && (alloc_size / upa).is_multiple_of(page);
        let mut max_upa = alloc_size / min_unit_size;
        while max_upa > 1 && !fits(max_upa) {
            max_upa -= 1;
        }
        // Group CPUs by node (CPUs on one node are at LOCAL_DISTANCE of each other).
        let mut l = PcpuLayout {
            static_size,
            reserved_size,
            dyn_size,
            unit_size: 0,
            alloc_size,
            atom_size,
            upa: 1,
            size_sum,
            cpus,
            cpu_node: [0; MAX_CPUS],
            nr_groups: 0,
            cpu_group: [0; MAX_CPUS],
        };
        let mut group_node = [0u16; MAX_CPUS];
        let mut group_cnt = [0u64; MAX_CPUS];
        for cpu in 0..cpus {
            let n = node_of(cpu);
            l.cpu_node[cpu] = n;
            let g = match group_node[..l.nr_groups].iter().position(|&x| x == n) {
                Some(g) => g,
                None => {
                    group_node[l.nr_groups] = n;
                    l.nr_groups += 1;
                    l.nr_groups - 1
                }
            };
            l.cpu_group[cpu] = g as u16;
            group_cnt[g] += 1;
        }
        // Expand the unit until at least 75% of the units allocated are used.
        let mut last_allocs = u64::MAX;
        let mut best = 1;
        let mut upa = max_upa;
        while upa >= 1 {
            if fits(upa) {
                let mut allocs = 0;
                let mut wasted = 0;
                for &c in &group_cnt[..l.nr_groups] {
                    let a = c.div_ceil(upa);
                    allocs += a;
                    wasted += a * upa - c;
                }
                if wasted <= cpus as u64 / 3 {
                    if allocs > last_allocs {
                        break;
                    }
                    last_allocs = allocs;
                    best = upa;
                }
            }
            upa -= 1;
        }
        l.upa = best;
        l.unit_size = alloc_size / best;
        Ok(l)
    }

    /// Number of units (and allocations) of group `g`.
    fn group_units(&self, g: usize) -> u64 {
        let cnt = self.cpu_group[..self.cpus].iter().filter(|&&x| x as usize == g).count() as u64;
        cnt.div_ceil(self.upa) * self.upa
    }

    /// Allocate the chunk from memblock (each group on its node, above `min_addr`), give
    /// back the tail of every unit beyond `size_sum` and the units no CPU uses, as
    /// pcpu_embed_first_chunk() does. Returns the address of each CPU's unit (a group's
    /// units follow each other in CPU order).
    ///
    /// # Errors
    /// [`PercpuError::NoMemory`].
    pub fn allocate<M: PhysMem>(&self, mb: &mut Memblock<M>, min_addr: u64) -> Result<[u64; MAX_CPUS], PercpuError> {
        let mut bases = [0u64; MAX_CPUS];
        // Every group is allocated before any unit's tail is given back, so no group lands
        // in another's freed tail.
        for (g, base) in bases.iter_mut().enumerate().take(self.nr_groups) {
            let node = self.cpu_node[self.cpu_group[..self.cpus].iter().position(|&x| x as usize == g).unwrap_or(0)];
            let size = self.group_units(g) * self.unit_size;
            *base = mb
                .alloc_try_nid(size, self.atom_size, min_addr, crate::memblock::MEMBLOCK_ALLOC_ACCESSIBLE, node as i32)
                .ok_or(PercpuError::NoMemory { size })?;
        }
        let mut units = [0u64; MAX_CPUS];
        for (g, &p) in bases.iter().enumerate().take(self.nr_groups) {
            for (i, cpu) in (0..self.cpus).filter(|&c| self.cpu_group[c] as usize == g).enumerate() {
                units[cpu] = p + i as u64 * self.unit_size;
            }
            let used = self.cpu_group[..self.cpus].iter().filter(|&&x| x as usize == g).count() as u64;
            for u in 0..self.group_units(g) {
                let unit = p + u * self.unit_size;
                if u >= used {
                    let _ = mb.phys_free(unit, self.unit_size);
                } else if self.unit_size > self.size_sum {
                    let _ = mb.phys_free(unit + self.size_sum, self.unit_size - self.size_sum);
                }
            }
        }
        Ok(units)
    }

    /// The lines pcpu_embed_first_chunk() and pcpu_dump_alloc_info() print.
    pub fn write_report(&self, page: u64, w: &mut dyn Write) -> fmt::Result {
        writeln!(
            w,
            "percpu: Embedded {} pages/cpu s{} r{} d{} u{}",
            self.size_sum / page,
            self.static_size,
            self.reserved_size,
            self.dyn_size,
            self.unit_size
        )?;
        write!(
            w,
            "pcpu-alloc: s{} r{} d{} u{} alloc={}*{}",
            self.static_size,
            self.reserved_size,
            self.dyn_size,
            self.unit_size,
            self.alloc_size / self.atom_size,
            self.atom_size
        )?;
        let digits = |mut v: usize| {
            let mut d = 1;
            while v >= 10 {
                v /= 10;
                d += 1;
            }
            d
        };
        let group_width = digits(self.nr_groups);
        let cpu_width = digits(self.cpus);
        let width = self.upa as usize * (cpu_width + 1) + group_width + 3;
        let apl = {
            let x = (60 / width).max(1);
            1usize << (usize::BITS - 1 - x.leading_zeros())
        };
        let mut alloc = 0usize;
        for g in 0..self.nr_groups {
            let cpus_in: [usize; MAX_CPUS] = {
                let mut a = [usize::MAX; MAX_CPUS];
                let mut n = 0;
                for c in 0..self.cpus {
                    if self.cpu_group[c] as usize == g {
                        a[n] = c;
                        n += 1;
                    }
                }
                a
            };
            let units = self.group_units(g) as usize;
            let mut unit = 0usize;
            while unit < units {
                if alloc.is_multiple_of(apl) {
                    write!(w, "\npcpu-alloc: ")?;
                }
                write!(w, "[{g:0group_width$}] ")?;
                for _ in 0..self.upa {
                    // An unused unit prints as empty_str, "--------" cut to cpu_width.
                    match cpus_in[unit] {
                        usize::MAX => write!(w, "{:-<width$} ", "", width = cpu_width.min(8))?,
                        c => write!(w, "{c:0cpu_width$} ")?,
                    }
                    unit += 1;
                }
                alloc += 1;
            }
        }
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physmem::PhysMem;

    /// The numbers Debian's 6.1 kernels print under QEMU (tests/data/linux captures).
    #[test]
    fn linux_layouts() {
        // x86-64: PMD-sized atoms, 217088 bytes of static per-CPU data.
        let l = PcpuLayout::build(217_088, 2 << 20, 4096, 2, |c| c as u16).unwrap();
        assert_eq!((l.size_sum / 4096, l.dyn_size, l.unit_size, l.upa), (62, 28_672, 2_097_152, 1));
        // arm64: page-sized atoms.
        let l = PcpuLayout::build(87_272, 4096, 4096, 1, |_| 0).unwrap();
        assert_eq!((l.size_sum / 4096, l.dyn_size, l.unit_size, l.alloc_size), (31, 31_512, 126_976, 126_976));
        let mut s = String::new();
        l.write_report(4096, &mut s).unwrap();
        assert_eq!(s, "percpu: Embedded 31 pages/cpu s87272 r8192 d31512 u126976\npcpu-alloc: s87272 r8192 d31512 u126976 alloc=31*4096\npcpu-alloc: [0] 0 \n");
    }

    /// alloc_percpu()/free_percpu() on the first chunk's dynamic area.
    #[test]
    fn dynamic_area_allocates_in_every_unit() {
        let mem = crate::memblock::tests::TestMem::default();
        let layout = PcpuLayout::build(8192, 4096, 4096, 2, |_| 0).unwrap();
        let areas =
            PercpuAreas { layout, unit_base: core::array::from_fn(|c| 0x10_0000 + c as u64 * layout.unit_size) };
        let c = PcpuChunk::new(&areas);
        let dyn_start = 8192 + PERCPU_MODULE_RESERVE;
        let full = c.stats();
        assert_eq!((full.nr_alloc, full.free_bytes, full.first_free), (0, layout.dyn_size, dyn_start));
        // Every CPU's copy starts zeroed.
        mem.write(PhysAddr(0x10_0000 + dyn_start), &[0xaa; 64]);
        let a = c.alloc(&mem, 40, 8).unwrap();
        assert_eq!(a, PcpuPtr(dyn_start));
        assert!(mem.is_zero(c.addr(a, 0).unwrap(), 40));
        assert_eq!(c.addr(a, 1), Some(PhysAddr(0x10_0000 + layout.unit_size + dyn_start)));
        assert_eq!(c.addr(a, 2), None, "no unit for CPU 2");
        // Alignment is honoured; the gap stays usable.
        let b = c.alloc(&mem, 8, 256).unwrap();
        assert_eq!(b.0 % 256, 0);
        let d = c.alloc(&mem, 16, 16).unwrap();
        assert_eq!(d, PcpuPtr(dyn_start + 48), "first fit after the 40-byte allocation");
        assert_eq!(c.stats().nr_alloc, 3);
        // Bad requests and double frees change nothing.
        assert_eq!(c.alloc(&mem, 0, 8), Err(PercpuError::BadRequest { size: 0, align: 8 }));
        assert_eq!(c.alloc(&mem, 8, 3), Err(PercpuError::BadRequest { size: 8, align: 3 }));
        assert_eq!(c.alloc(&mem, 8, 1 << 63), Err(PercpuError::BadRequest { size: 8, align: 1 << 63 }));
        assert_eq!(c.alloc(&mem, 1 << 20, 8), Err(PercpuError::DynamicFull { size: 1 << 20 }));
        assert_eq!(c.free(PcpuPtr(a.0 + 16)), Err(PercpuError::NotAllocated(a.0 + 16)), "inside an allocation");
        c.free(a).unwrap();
        assert_eq!(c.free(a), Err(PercpuError::NotAllocated(a.0)));
        assert_eq!(c.stats().nr_alloc, 2);
        // Freeing `a` does not free its neighbour `d`.
        let a2 = c.alloc(&mem, 48, 16).unwrap();
        assert_eq!(a2, a, "the freed 48 bytes are reused exactly");
        let e = c.alloc(&mem, 16, 16).unwrap();
        assert_eq!(e.0, d.0 + 16);
        // Fill the area: it ends with DynamicFull, and every byte is accounted for.
        while c.alloc(&mem, 1024, 16).is_ok() {}
        let s = c.stats();
        assert!(s.contig_bytes < 1024, "{s:?}");
        assert_eq!(s.free_bytes, s.contig_bytes + (b.0 - (e.0 + 16)), "the gap below `b` and the tail: {s:?}");
        assert_eq!(s.first_free, e.0 + 16);
    }

    #[test]
    fn unused_units_print_as_dashes() {
        // x86-64 -smp 3: four 512K units per 2M allocation, the last unused.
        let l = PcpuLayout::build(217_088, 2 << 20, 4096, 3, |_| 0).unwrap();
        let mut s = String::new();
        l.write_report(4096, &mut s).unwrap();
        assert!(s.ends_with("alloc=1*2097152\npcpu-alloc: [0] 0 1 2 - \n"), "{s}");
        // 12 CPUs: two-digit columns, and the unused units' dashes as wide.
        let l = PcpuLayout::build(217_088, 2 << 20, 4096, 12, |_| 0).unwrap();
        let mut s = String::new();
        l.write_report(4096, &mut s).unwrap();
        assert!(s.ends_with("\npcpu-alloc: [0] 00 01 02 03 04 05 06 07 [0] 08 09 10 11 -- -- -- -- \n"), "{s}");
    }

    #[test]
    fn groups_follow_nodes_in_cpu_order() {
        // Nodes 0,1,0,1: groups in order of each node's first CPU, units in CPU order.
        let l = PcpuLayout::build(217_088, 2 << 20, 4096, 4, |c| (c % 2) as u16).unwrap();
        let mut s = String::new();
        l.write_report(4096, &mut s).unwrap();
        assert!(s.ends_with("\npcpu-alloc: [0] 0 2 [1] 1 3 \n"), "{s}");
        let l = PcpuLayout::build(217_088, 2 << 20, 4096, 4, |c| [1, 0, 0, 1][c]).unwrap();
        let mut s = String::new();
        l.write_report(4096, &mut s).unwrap();
        assert!(s.ends_with("\npcpu-alloc: [0] 0 3 [1] 1 2 \n"), "{s}");
    }

    #[test]
    fn many_cpus_share_allocations() {
        // 8 CPUs on one node with 2M atoms: eight 256K units fit one allocation.
        let l = PcpuLayout::build(100_000, 2 << 20, 4096, 8, |_| 0).unwrap();
        assert_eq!(l.upa, 8);
        assert_eq!(l.unit_size, 256 << 10);
        assert!(PcpuLayout::build(1, 4096, 4096, 0, |_| 0).is_err());
    }
}
