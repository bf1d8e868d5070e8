//! LoongArch reference walker: the software-refilled page tables Linux builds, walked as
//! the TLB-refill handler does with the `LDDIR`/`LDPTE` instructions, and the resulting
//! TLB entry interpreted as the hardware does.
//!
//! Sources: LoongArch Reference Manual vol. 1, chapter 5 "Memory Management" (5.4 page
//! table walk instructions and the TLB entry format: TLBELO0/1), chapter 7 CSRs
//! (CSR.PGDL/PGDH/PGD, CSR.PWCL/PWCH); Linux `arch/loongarch/mm/tlbex.S`
//! (`handle_tlb_refill`: `csrrd PGD; lddir 3; \[lddir 2;\] lddir 1; ldpte 0; ldpte 1;
//! tlbfill`) and `setup_ptwalker` (the PWCL/PWCH values).
//!
//! # Configuration
//!
//! - CSR.PGD reads PGDL when VA\[VALEN−1\] (= VA\[63\] for a legal address) is 0, PGDH
//!   otherwise: the root of the walk.
//! - CSR.PWCL: PTbase 4:0, PTwidth 9:5, Dir1_base 14:10, Dir1_width 19:15, Dir2_base
//!   24:20, Dir2_width 29:25, PTEWidth 31:30 (0 = 64-bit entries, the only one supported
//!   here). CSR.PWCH: Dir3_base 5:0, Dir3_width 11:6, Dir4_base 17:12, Dir4_width 23:18.
//!   A level with width 0 is absent. The walk goes root → Dir4 → Dir3 → Dir2 → Dir1 → PT
//!   over the present levels; each index is VA\[base+width−1 : base\].
//! - VALEN, PALEN (CPUCFG word 1): addresses must be legal, i.e. VA\[63:VALEN−1\] all equal
//!   (otherwise an address error exception, [`FaultKind::NonCanonical`]); table addresses
//!   and PPNs are taken from bits PALEN−1:12. Direct-mapped windows (CSR.DMWn) are outside
//!   this walker.
//!
//! # Directory entries
//!
//! A directory entry holds the address of the next-level table (Linux stores the table's
//! direct-mapped virtual address; bits above PALEN are dropped, as the walk uses physical
//! addresses). Linux points empty entries at shared `invalid_*_table`s full of invalid
//! entries; an entry of 0 is treated the same way here ([`FaultKind::NotPresent`] at that
//! level). If bit 6 (HUGE in a directory entry) is set, LDDIR passes the entry through
//! and LDPTE turns it into a huge-page TLB entry: the entry maps 2^base bytes, its global
//! bit is bit 12 (HGLOBAL) instead of bit 6; address bits base−1:13 of a huge entry must be
//! 0 (the reference walker reports [`FaultKind::Misaligned`] otherwise; the manual leaves
//! such entries' translation unspecified).
//!
//! # Page table entries (TLBELO format, manual 5.4 / CSR.TLBELO)
//!
//! | bits | field |
//! |---|---|
//! | 0 V | valid; 0 → page invalid exception (PIL/PIS/PIF) |
//! | 1 D | dirty = hardware write permission; 0 → page modification exception (PME) on a store |
//! | 3:2 PLV | privilege level: accessible from CPL ≤ PLV (RPLV = 0) or CPL = PLV (RPLV = 1), else PPI |
//! | 5:4 MAT | 0 SUC (strongly-ordered uncached), 1 CC (coherent cached), 2 WUC (weakly-ordered uncached) |
//! | 6 G | global (PTEs) |
//! | PALEN−1:12 PPN | physical page number (for 16KB pages bits 13:12 are ignored) |
//! | 61 NR | no read (PNR) |
//! | 62 NX | no execute (PNX) |
//! | 63 RPLV | restricted privilege level |
//!
//! Linux's software bits (7 PRESENT, 8 WRITE, 9 MODIFIED, 10 PROTNONE, 11 SPECIAL) are
//! ignored by the hardware and here. "Kernel" is PLV0, "user" PLV3.
//!
//! Memory type: CC → Normal, WUC → WriteCombine, SUC → Device, 3 → `Other(3)`.

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::{bit, bits, field, read_le64, sign_extended, Fault, FaultKind, MemType, Perms};
use crate::refwalk::{RefTranslation, WalkResult};

/// The CSRs and CPU parameters the refill walk uses.
#[derive(Clone, Copy, Debug)]
pub struct LoongArchConfig {
    /// CSR.PGDL (root for VA\[63\] = 0).
    pub pgdl: u64,
    /// CSR.PGDH (root for VA\[63\] = 1).
    pub pgdh: u64,
    /// CSR.PWCL.
    pub pwcl: u32,
    /// CSR.PWCH.
    pub pwch: u32,
    /// Virtual address bits implemented (VALEN).
    pub valen: u32,
    /// Physical address bits implemented (PALEN).
    pub palen: u32,
}

/// PWCL from its fields.
pub const fn pwcl(pt: (u32, u32), dir1: (u32, u32), dir2: (u32, u32)) -> u32 {
    pt.0 | pt.1 << 5 | dir1.0 << 10 | dir1.1 << 15 | dir2.0 << 20 | dir2.1 << 25
}

/// PWCH from its fields.
pub const fn pwch(dir3: (u32, u32), dir4: (u32, u32)) -> u32 {
    dir3.0 | dir3.1 << 6 | dir4.0 << 12 | dir4.1 << 18
}

impl LoongArchConfig {
    /// Linux with 16KB pages and 3 levels (PGD → PMD → PTE, 47-bit VA): PT 14/11,
    /// Dir1 (PMD) 25/11, Dir3 (PGD) 36/11; PGDL = PGDH = `root`; VALEN = PALEN = 48.
    pub fn linux_16k_3level(root: u64) -> Self {
        Self {
            pgdl: root,
            pgdh: root,
            pwcl: pwcl((14, 11), (25, 11), (0, 0)),
            pwch: pwch((36, 11), (0, 0)),
            valen: 48,
            palen: 48,
        }
    }
    /// Linux with 4KB pages and 4 levels (PGD → PUD → PMD → PTE, 48-bit VA): PT 12/9,
    /// Dir1 (PMD) 21/9, Dir2 (PUD) 30/9, Dir3 (PGD) 39/9.
    pub fn linux_4k_4level(root: u64) -> Self {
        Self {
            pgdl: root,
            pgdh: root,
            pwcl: pwcl((12, 9), (21, 9), (30, 9)),
            pwch: pwch((39, 9), (0, 0)),
            valen: 48,
            palen: 48,
        }
    }
}

/// Translate `va` as the refill handler plus the TLB would.
pub fn walk(mem: &impl PhysMem, cfg: &LoongArchConfig, va: u64) -> WalkResult {
    let (l, h) = (cfg.pwcl as u64, cfg.pwch as u64);
    let pt = (bits(l, 4, 0) as u32, bits(l, 9, 5) as u32);
    // The directory levels PWCH/PWCL enable (a width of 0 disables one), root first.
    let mut all = [
        (bits(h, 17, 12), bits(h, 23, 18)),
        (bits(h, 5, 0), bits(h, 11, 6)),
        (bits(l, 24, 20), bits(l, 29, 25)),
        (bits(l, 14, 10), bits(l, 19, 15)),
    ]
    .map(|(b, w)| (b as u32, w as u32));
    let mut n = 0;
    for i in 0..all.len() {
        if all[i].1 != 0 {
            all[n] = all[i];
            n += 1;
        }
    }
    let dirs = &all[..n];
    let levels = dirs.len() + 1;
    if bits(l, 31, 30) != 0 || pt.1 == 0 {
        return Err(Fault::new(levels - 1, FaultKind::BadConfig));
    }
    if !sign_extended(va, cfg.valen - 1) {
        return Err(Fault::new(levels - 1, FaultKind::NonCanonical));
    }
    let addr_mask = field(cfg.palen - 1, 12);
    let mut table = if bit(va, 63) { cfg.pgdh } else { cfg.pgdl } & addr_mask;
    for (k, &(base, width)) in dirs.iter().enumerate() {
        let level = levels - 1 - k;
        let e = read_le64(mem, table + bits(va, base + width - 1, base) * 8);
        if e == 0 {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        if bit(e, 6) {
            let size = 1u64 << base;
            if e & field(base - 1, 13) != 0 {
                return Err(Fault::new(level, FaultKind::Misaligned));
            }
            let pa = (e & field(cfg.palen - 1, base)) | (va & (size - 1));
            return leaf(e, level, pa, size, bit(e, 12));
        }
        table = e & addr_mask;
    }
    let e = read_le64(mem, table + bits(va, pt.0 + pt.1 - 1, pt.0) * 8);
    let size = 1u64 << pt.0;
    let pa = (e & field(cfg.palen - 1, pt.0)) | (va & (size - 1));
    leaf(e, 0, pa, size, bit(e, 6))
}

fn leaf(e: u64, level: usize, pa: u64, size: u64, global: bool) -> WalkResult {
    if !bit(e, 0) {
        return Err(Fault::new(level, FaultKind::NotPresent));
    }
    let plv = bits(e, 3, 2);
    let rplv = bit(e, 63);
    let kacc = !rplv || plv == 0;
    let uacc = plv == 3;
    let (r, w, x) = (!bit(e, 61), bit(e, 1), !bit(e, 62));
    let perms = Perms {
        kernel_read: kacc && r,
        kernel_write: kacc && w,
        kernel_exec: kacc && x,
        user_read: uacc && r,
        user_write: uacc && w,
        user_exec: uacc && x,
    };
    let memtype = match bits(e, 5, 4) {
        0 => MemType::Device,
        1 => MemType::Normal,
        2 => MemType::WriteCombine,
        m => MemType::Other(m),
    };
    Ok(RefTranslation {
        pa,
        page_size: size,
        level,
        readable: r,
        writable: w,
        executable: x,
        user: uacc,
        global,
        memtype,
        raw_leaf: e,
        perms,
        store_needs_dirty: false,
    })
}

/// `loongarch64-3level-16k`: PGDL = root (a user tree: addresses with VA\[63\] = 1 go
/// through PGDH, which holds another tree, and are refused as [`FaultKind::NonCanonical`]),
/// PWCL/PWCH as Linux's `setup_ptwalker` for 16K pages and 3 levels (PT 14/11, Dir1 25/11,
/// Dir3 36/11), VALEN = PALEN = 48 (so VA\[47\], above the tree's 47 bits, is not
/// translated by the tables: such addresses alias, as on hardware).
/// `loongarch64-4level-4k`: PGDL = PGDH = root; PWCL/PWCH for 4K pages, 4 levels (PT 12/9,
/// Dir1 21/9, Dir2 30/9, Dir3 39/9); VALEN = PALEN = 48.
impl<const PAGE_SHIFT: u32, const N: usize> crate::refwalk::RefWalk
    for crate::arch::loongarch64::LoongArchPaging<PAGE_SHIFT, N>
{
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        match (PAGE_SHIFT, N) {
            (14, 3) => {
                // The root is the user tree in PGDL; PGDH (VA[63] = 1) holds the kernel's.
                if va >> 63 != 0 {
                    return Err(Fault::new(2, FaultKind::NonCanonical));
                }
                walk(mem, &LoongArchConfig::linux_16k_3level(root), va)
            }
            (12, 4) => walk(mem, &LoongArchConfig::linux_4k_4level(root), va),
            _ => Err(Fault::new(0, FaultKind::BadConfig)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    const V: u64 = 1;
    const D: u64 = 2;
    const PLV3: u64 = 3 << 2;
    const CC: u64 = 1 << 4;
    const WUC: u64 = 2 << 4;
    const G: u64 = 1 << 6;
    const HUGE: u64 = 1 << 6;
    const HGLOBAL: u64 = 1 << 12;
    const PRESENT: u64 = 1 << 7;
    const WRITE: u64 = 1 << 8;
    const NR: u64 = 1 << 61;
    const NX: u64 = 1 << 62;
    const RPLV: u64 = 1 << 63;
    const DMW: u64 = 0x9000_0000_0000_0000;

    #[test]
    fn sixteen_k_three_level() {
        let mem = Mem::new();
        let cfg = LoongArchConfig::linux_16k_3level(0x10000);
        let va = 0x0000_1234_5678_cabcu64;
        let (i3, i1, i0) = ((va >> 36) & 0x7ff, (va >> 25) & 0x7ff, (va >> 14) & 0x7ff);
        // Directory entries hold direct-mapped virtual addresses of the tables.
        mem.le64(0x10000 + i3 * 8, DMW | 0x14000);
        mem.le64(0x14000 + i1 * 8, DMW | 0x18000);
        mem.le64(0x18000 + i0 * 8, 0x8765_4000 | V | D | PLV3 | CC | PRESENT | WRITE);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x8765_4000 | (va & 0x3fff), 16384, 0));
        assert!(t.readable && t.writable && t.executable && t.user && !t.global);
        assert_eq!(t.memtype, MemType::Normal);
        assert!(t.check(Access { user: true, write: true, exec: false }).is_ok());
        // D = 0: not writable (the software WRITE bit does not matter to the TLB).
        mem.le64(0x18000 + i0 * 8, 0x8765_4000 | V | PLV3 | CC | PRESENT | WRITE);
        assert!(!walk(&mem, &cfg, va).unwrap().writable);
        // V = 0: page invalid; an empty directory entry: not present at that level.
        mem.le64(0x18000 + i0 * 8, 0x8765_4000 | PLV3 | CC | PRESENT);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::NotPresent)));
        assert_eq!(walk(&mem, &cfg, va ^ (1 << 30)), Err(Fault::new(1, FaultKind::NotPresent)));
        assert_eq!(walk(&mem, &cfg, 0x10_0000_0000), Err(Fault::new(2, FaultKind::NotPresent)));
        // Address bits 63:47 must be equal.
        assert_eq!(walk(&mem, &cfg, 0x0001_0000_0000_0000), Err(Fault::new(2, FaultKind::NonCanonical)));
    }

    #[test]
    fn kernel_half_and_huge_pmd() {
        let mem = Mem::new();
        let cfg = LoongArchConfig { pgdh: 0x20000, ..LoongArchConfig::linux_16k_3level(0x10000) };
        // vmalloc-style address: bit 63 set → PGDH.
        let va = 0xffff_8000_0200_1234u64;
        let (i3, i1) = ((va >> 36) & 0x7ff, (va >> 25) & 0x7ff);
        mem.le64(0x20000 + i3 * 8, 0x24000);
        // 32MB huge PMD, kernel (PLV0), global via HGLOBAL, no-exec, weakly uncached.
        mem.le64(0x24000 + i1 * 8, 0x1_0200_0000 | V | D | HUGE | HGLOBAL | WUC | NX);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x1_0200_1234, 32 << 20, 1));
        assert!(!t.user && t.global && t.writable && !t.executable);
        assert_eq!(t.memtype, MemType::WriteCombine);
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        // A misaligned huge entry.
        mem.le64(0x24000 + (i1 + 1) * 8, 0x1_0200_4000 | V | HUGE);
        assert_eq!(walk(&mem, &cfg, va + (32 << 20)), Err(Fault::new(1, FaultKind::Misaligned)));
    }

    #[test]
    fn four_k_four_level() {
        let mem = Mem::new();
        let cfg = LoongArchConfig::linux_4k_4level(0x1000);
        let va = 0x0000_7fab_cdef_1234u64;
        let idx = |s: u32| (va >> s) & 0x1ff;
        mem.le64(0x1000 + idx(39) * 8, 0x2000);
        mem.le64(0x2000 + idx(30) * 8, 0x3000);
        mem.le64(0x3000 + idx(21) * 8, 0x4000);
        mem.le64(0x4000 + idx(12) * 8, 0xabc_d000 | V | PLV3 | NR | G);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0xabc_d234, 4096, 0));
        assert!(t.user && !t.readable && t.global && t.executable && !t.writable);
        // Linux's memtype for ioremap: SUC → Device. RPLV with PLV3: only PLV3 may access.
        mem.le64(0x4000 + idx(12) * 8, 0xabc_d000 | V | PLV3 | RPLV);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!(t.memtype, MemType::Device);
        assert!(t.perms.user_read && !t.perms.kernel_read);
        // 2MB huge PMD.
        mem.le64(0x3000 + idx(21) * 8, 0x4060_0000 | V | D | HUGE | CC);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x4060_0000 | (va & 0x1f_ffff), 2 << 20, 1));
        assert!(!t.global && !t.user);
        assert_eq!(walk(&mem, &cfg, 0x0000_8000_0000_0000).unwrap_err().kind, FaultKind::NonCanonical);
    }
}
