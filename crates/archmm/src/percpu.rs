//! The first per-CPU chunk, laid out as Linux's embed allocator lays it out
//! (mm/percpu.c: pcpu_build_alloc_info, pcpu_embed_first_chunk).
//!
//! Each possible CPU gets a unit holding the kernel's static per-CPU data, a reserved part
//! for modules and a dynamic part. Units are grouped by NUMA node; allocations are a multiple
//! of the arch's atom size (x86-64 uses PMD-sized atoms so the area can be mapped with large
//! pages, others a page), and several units share an allocation when that wastes less than a
//! third. The memory comes from memblock on each group's node; the tail of each unit beyond
//! what it needs is given back.

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

/// Why the first chunk could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PercpuError {
    /// More CPUs than [`MAX_CPUS`] or none.
    BadCpuCount(usize),
    /// memblock could not provide a group's allocation.
    NoMemory {
        /// Bytes asked for.
        size: u64,
    },
}

impl fmt::Display for PercpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PercpuError::BadCpuCount(n) => write!(f, "{n} CPUs (1 to {MAX_CPUS} supported)"),
            PercpuError::NoMemory { size } => write!(f, "no memory for a {size:#x}-byte per-CPU allocation"),
        }
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
    pub fn build(static_size: u64, atom_size: u64, page: u64, cpus: usize, node_of: impl Fn(usize) -> u16) -> Result<Self, PercpuError> {
        Self::build_reserved(static_size, PERCPU_MODULE_RESERVE, atom_size, page, cpus, node_of)
    }

    /// [`PcpuLayout::build`] with `reserved_size` bytes reserved for modules instead of
    /// PERCPU_MODULE_RESERVE (x86-32 reserves none: PERCPU_FIRST_CHUNK_RESERVE is 0 there).
    ///
    /// # Errors
    /// [`PercpuError::BadCpuCount`].
    pub fn build_reserved(static_size: u64, reserved_size: u64, atom_size: u64, page: u64, cpus: usize, node_of: impl Fn(usize) -> u16) -> Result<Self, PercpuError> {
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(PercpuError::BadCpuCount(cpus));
        }
        let size_sum = page_align(static_size + reserved_size + PERCPU_DYNAMIC_RESERVE.max(PERCPU_DYNAMIC_EARLY_SIZE), page);
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
    /// pcpu_embed_first_chunk() does. Returns the base of each group.
    ///
    /// # Errors
    /// [`PercpuError::NoMemory`].
    pub fn allocate<M: PhysMem>(&self, mb: &mut Memblock<M>, min_addr: u64) -> Result<[u64; MAX_CPUS], PercpuError> {
        let mut bases = [0u64; MAX_CPUS];
        for (g, base) in bases.iter_mut().enumerate().take(self.nr_groups) {
            let node = self.cpu_node[self.cpu_group[..self.cpus].iter().position(|&x| x as usize == g).unwrap_or(0)];
            let size = self.group_units(g) * self.unit_size;
            let p = mb
                .alloc_try_nid(size, self.atom_size, min_addr, crate::memblock::MEMBLOCK_ALLOC_ACCESSIBLE, node as i32)
                .ok_or(PercpuError::NoMemory { size })?;
            *base = p;
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
        Ok(bases)
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
                    match cpus_in[unit] {
                        usize::MAX => write!(w, "{:width$} ", "", width = cpu_width)?,
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

    #[test]
    fn many_cpus_share_allocations() {
        // 8 CPUs on one node with 2M atoms: eight 256K units fit one allocation.
        let l = PcpuLayout::build(100_000, 2 << 20, 4096, 8, |_| 0).unwrap();
        assert_eq!(l.upa, 8);
        assert_eq!(l.unit_size, 256 << 10);
        assert!(PcpuLayout::build(1, 4096, 4096, 0, |_| 0).is_err());
    }
}
