//! 32-bit Arm reference walkers (VMSAv7, Arm ARM DDI 0406C): the short-descriptor format
//! (B3.5) and the Large Physical Address Extension's long-descriptor format (B3.6).
//!
//! # Short-descriptor format (B3.5)
//!
//! TTBCR.N (bits 2:0) splits the space: VA\[31:32−N\] = 0 → TTBR0, whose first-level table
//! is 16KB >> N and indexed by VA\[31−N:20\]; otherwise TTBR1 (16KB table, VA\[31:20\]).
//! TTBCR.PD0/PD1 (bits 4/5) disable walks through TTBR0/TTBR1 (translation fault, reported
//! as [`FaultKind::NonCanonical`]).
//!
//! First-level descriptors (B3.5.1, "Short-descriptor translation table first-level descriptor formats"), bits\[1:0\]:
//! - `00` fault;
//! - `01` page table: 31:10 second-level table base, 8:5 domain, 3 NS, 2 PXN (when the
//!   PXN attribute is implemented, i.e. with LPAE);
//! - `10` section (bit 18 = 0) or supersection (bit 18 = 1); `11` the same with PXN = 1
//!   when PXN is implemented, otherwise reserved (translation fault, `Reserved(0b11)`).
//!   Section: 31:20 base, 19 NS, 17 nG, 16 S, 15 AP\[2\], 14:12 TEX, 11:10 AP\[1:0\],
//!   8:5 domain, 4 XN, 3 C, 2 B, 0 PXN. Supersection: 31:24 PA\[31:24\], 23:20 PA\[35:32\],
//!   8:5 PA\[39:36\] (domain is 0), other bits as a section.
//!
//! Second-level descriptors (B3.5.1, second-level formats), bits\[1:0\]: `00` fault; `01` large page (64KB):
//! 31:16 base, 15 XN, 14:12 TEX, 11 nG, 10 S, 9 AP\[2\], 5:4 AP\[1:0\], 3 C, 2 B;
//! `1x` small page (4KB): 31:12 base, 11 nG, 10 S, 9 AP\[2\], 8:6 TEX, 5:4 AP\[1:0\], 3 C,
//! 2 B, 0 XN.
//!
//! Domains (B3.7.3): DACR field 2·domain: `00` no access (domain fault), `01` client
//! (permissions checked), `10` reserved (reported as a domain fault), `11` manager (no
//! permission checks; all accesses allowed).
//!
//! Access permissions (B3.7.1, "Access permissions", the full AP\[2:0\] model, SCTLR.AFE=0): AP\[2\],AP\[1:0\] =
//! 0,00 none; 0,01 PL1 RW; 0,10 PL1 RW / PL0 RO; 0,11 RW both; 1,00 reserved (treated as
//! no access); 1,01 PL1 RO; 1,10 and 1,11 RO both. With AFE=1 (the simplified AP\[2:1\] model), AP\[0\] is the
//! access flag (0 → Access flag fault) and AP\[2:1\] is 00 PL1 RW, 01 RW both, 10 PL1 RO,
//! 11 RO both.
//!
//! Execute permission (B3.7.2): an instruction fetch needs read permission at the current
//! PL and XN = 0; at PL1 also PXN = 0 (from the leaf, or from a first-level page-table
//! descriptor). Assumed: SCTLR.WXN = UWXN = 0.
//!
//! Memory attributes (B3.8, "Short-descriptor format memory region attributes, with / without
//! TEX remap"): with SCTLR.TRE=1 the index n = TEX\[0\]·4 + C·2 + B selects PRRR.TRn (00
//! strongly-ordered, 01 device, 10 normal) and NMRR.IRn/ORn (00 non-cacheable, 01 WBWA,
//! 10 WT, 11 WB no WA); with TRE=0 the direct TEX/C/B encodings apply.
//!
//! # Long-descriptor format (LPAE, B3.6)
//!
//! TTBCR.EAE (bit 31) = 1. T0SZ (2:0), EPD0 (7), T1SZ (18:16), EPD1 (23). Region
//! selection (B3.6.4): with T0SZ = T1SZ = 0 TTBR0 translates everything; otherwise
//! TTBR0 covers \[0, 2^(32−T0SZ)) (or everything below TTBR1's region if T0SZ = 0), TTBR1
//! covers \[2^32 − 2^(32−T1SZ), 2^32) (or everything above TTBR0's if T1SZ = 0); a VA in
//! neither is a level 1 translation fault. TnSZ 0..1 start at level 1 (VA\[31−n:30\]),
//! TnSZ 2..7 at level 2 (VA\[31−n:21\]). TTBRn: BADDR 39:x (x = 5 − TnSZ at level 1,
//! 14 − TnSZ at level 2), ASID 55:48.
//!
//! Descriptors (B3.6.1, Figures B3-15..B3-17): bits\[1:0\] `x0` invalid; `01` block at
//! levels 1 (1GB) and 2 (2MB), reserved at level 3; `11` table at levels 1 and 2, page at
//! level 3. Output/next-level address 39:12 (39:30, 39:21 for blocks); bits 47:40 must be
//! zero, otherwise an Address size fault. Table attributes: 59 PXNTable, 60 XNTable,
//! 62:61 APTable, 63 NSTable. Leaf attributes: 4:2 AttrIndx (MAIR0 for 0..3, MAIR1 for
//! 4..7), 5 NS, 7:6 AP\[2:1\], 9:8 SH, 10 AF (0 → Access flag fault), 11 nG,
//! 52 Contiguous, 53 PXN, 54 XN. Permissions (B3.7.1, the simplified AP\[2:1\] model): AP\[1\] PL0
//! access, AP\[2\] read-only; APTable\[0\] no PL0 access below, APTable\[1\] no writes below.

use crate::arch::arm64::refwalk::arm_attr_memtype;
use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::{bit, bits, field, read_le32, read_le64, Fault, FaultKind, MemType};
use crate::refwalk::{Perms, RefTranslation, WalkResult};

/// PRRR as Linux programs it for the short-descriptor format (`proc-v7-2level.S`).
pub const LINUX_PRRR: u32 = 0xff0a_81a8;
/// NMRR as Linux programs it for the short-descriptor format (`proc-v7-2level.S`).
pub const LINUX_NMRR: u32 = 0x40e0_40e0;
/// MAIR0 as Linux programs it for LPAE (`proc-v7-3level.S`).
pub const LINUX_MAIR0: u32 = 0xeeaa_4400;
/// MAIR1 as Linux programs it for LPAE (`proc-v7-3level.S`).
pub const LINUX_MAIR1: u32 = 0xff00_0004;

/// Registers of the short-descriptor translation.
#[derive(Clone, Copy, Debug)]
pub struct ShortConfig {
    /// TTBR0.
    pub ttbr0: u32,
    /// TTBR1.
    pub ttbr1: u32,
    /// TTBCR (EAE = 0).
    pub ttbcr: u32,
    /// SCTLR.TRE (TEX remap enabled).
    pub tre: bool,
    /// SCTLR.AFE (access flag enabled; AP\[0\] is the access flag).
    pub afe: bool,
    /// DACR.
    pub dacr: u32,
    /// PRRR (used when `tre`).
    pub prrr: u32,
    /// NMRR (used when `tre`).
    pub nmrr: u32,
    /// The PXN attribute is implemented (descriptor type `11` = section with PXN).
    pub pxn: bool,
}

impl ShortConfig {
    /// Linux's classic ARMv7 setup: TTBCR.N = 0 with `root` in TTBR0, TRE=1, AFE=0, all
    /// domains Client, Linux's PRRR/NMRR, PXN implemented.
    pub fn linux(root: u64) -> Self {
        Self {
            ttbr0: root as u32,
            ttbr1: root as u32,
            ttbcr: 0,
            tre: true,
            afe: false,
            dacr: 0x5555_5555,
            prrr: LINUX_PRRR,
            nmrr: LINUX_NMRR,
            pxn: true,
        }
    }
}

/// Registers of the long-descriptor (LPAE) translation.
#[derive(Clone, Copy, Debug)]
pub struct LpaeConfig {
    /// 64-bit TTBR0.
    pub ttbr0: u64,
    /// 64-bit TTBR1.
    pub ttbr1: u64,
    /// TTBCR (EAE = 1).
    pub ttbcr: u32,
    /// MAIR0 (AttrIndx 0..3).
    pub mair0: u32,
    /// MAIR1 (AttrIndx 4..7).
    pub mair1: u32,
}

impl LpaeConfig {
    /// TTBCR.EAE=1, T0SZ=T1SZ=0 with `root` in TTBR0, Linux's MAIR0/MAIR1.
    pub fn linux(root: u64) -> Self {
        Self { ttbr0: root, ttbr1: 0, ttbcr: 1 << 31, mair0: LINUX_MAIR0, mair1: LINUX_MAIR1 }
    }
}

/// Memory type from TEX/C/B through TEX remap or the direct encodings (B3.8, with and
/// without TEX remap).
fn short_memtype(cfg: &ShortConfig, tex: u64, c: bool, b: bool) -> MemType {
    let cb = (c as u64) << 1 | b as u64;
    if cfg.tre {
        let n = ((tex & 1) << 2 | cb) as u32;
        let tr = (cfg.prrr >> (2 * n)) & 3;
        let ir = (cfg.nmrr >> (2 * n)) & 3;
        let or = (cfg.nmrr >> (2 * n + 16)) & 3;
        let wb = |x: u32| x == 0b01 || x == 0b11;
        return match tr {
            0 | 1 => MemType::Device,
            2 if wb(ir) && wb(or) => MemType::Normal,
            2 if ir == 0 && or == 0 => MemType::WriteCombine,
            _ => MemType::Other(n as u64),
        };
    }
    let raw = tex << 2 | cb;
    match (tex, cb) {
        (0, 0b00) | (0, 0b01) | (0b010, 0b00) => MemType::Device,
        (0, 0b11) | (0b001, 0b11) => MemType::Normal,
        (0b001, 0b00) => MemType::WriteCombine,
        (t, inner) if t & 0b100 != 0 => {
            let outer = t & 0b11;
            let wb = |x: u64| x == 0b01 || x == 0b11;
            if wb(outer) && wb(inner) {
                MemType::Normal
            } else if outer == 0 && inner == 0 {
                MemType::WriteCombine
            } else {
                MemType::Other(raw)
            }
        }
        _ => MemType::Other(raw),
    }
}

/// The fields a short-descriptor leaf contributes.
struct ShortLeaf {
    base: u64,
    size: u64,
    level: usize,
    domain: u32,
    ap2: bool,
    ap10: u64,
    xn: bool,
    pxn: bool,
    ng: bool,
    tex: u64,
    c: bool,
    b: bool,
    raw: u64,
}

/// Translate `va` with the short-descriptor format.
pub fn walk_short(mem: &impl PhysMem, cfg: &ShortConfig, va: u64) -> WalkResult {
    if va >> 32 != 0 {
        return Err(Fault::new(1, FaultKind::NonCanonical));
    }
    let n = cfg.ttbcr & 7;
    let use_ttbr1 = n != 0 && bits(va, 31, 32 - n) != 0;
    let (l1_addr, disabled) = if use_ttbr1 {
        ((cfg.ttbr1 as u64 & field(31, 14)) + bits(va, 31, 20) * 4, bit(cfg.ttbcr as u64, 5))
    } else {
        let base = cfg.ttbr0 as u64 & field(31, 14 - n);
        (base + bits(va, 31 - n, 20) * 4, bit(cfg.ttbcr as u64, 4))
    };
    if disabled {
        return Err(Fault::new(1, FaultKind::NonCanonical));
    }
    let l1 = read_le32(mem, l1_addr) as u64;
    let leaf = match l1 & 3 {
        0 => return Err(Fault::new(1, FaultKind::NotPresent)),
        1 => {
            let pxn_table = cfg.pxn && bit(l1, 2);
            let l2 = read_le32(mem, (l1 & field(31, 10)) + bits(va, 19, 12) * 4) as u64;
            let common = |base, size, xn, tex| ShortLeaf {
                base,
                size,
                level: 0,
                domain: bits(l1, 8, 5) as u32,
                ap2: bit(l2, 9),
                ap10: bits(l2, 5, 4),
                xn,
                pxn: pxn_table,
                ng: bit(l2, 11),
                tex,
                c: bit(l2, 3),
                b: bit(l2, 2),
                raw: l2,
            };
            match l2 & 3 {
                0 => return Err(Fault::new(0, FaultKind::NotPresent)),
                1 => common(l2 & field(31, 16), 1 << 16, bit(l2, 15), bits(l2, 14, 12)),
                _ => common(l2 & field(31, 12), 1 << 12, bit(l2, 0), bits(l2, 8, 6)),
            }
        }
        t => {
            if t == 3 && !cfg.pxn {
                return Err(Fault::new(1, FaultKind::Reserved(3)));
            }
            let (base, size, domain) = if bit(l1, 18) {
                let pa = (l1 & field(31, 24)) | bits(l1, 23, 20) << 32 | bits(l1, 8, 5) << 36;
                (pa, 1 << 24, 0)
            } else {
                (l1 & field(31, 20), 1 << 20, bits(l1, 8, 5) as u32)
            };
            ShortLeaf {
                base,
                size,
                level: 1,
                domain,
                ap2: bit(l1, 15),
                ap10: bits(l1, 11, 10),
                xn: bit(l1, 4),
                pxn: cfg.pxn && bit(l1, 0),
                ng: bit(l1, 17),
                tex: bits(l1, 14, 12),
                c: bit(l1, 3),
                b: bit(l1, 2),
                raw: l1,
            }
        }
    };
    let dom = (cfg.dacr >> (2 * leaf.domain)) & 3;
    if dom == 0 || dom == 2 {
        return Err(Fault::new(leaf.level, FaultKind::Domain));
    }
    // (PL1 read, PL1 write, PL0 read, PL0 write)
    let (kr, kw, ur, uw) = if cfg.afe {
        if leaf.ap10 & 1 == 0 {
            return Err(Fault::new(leaf.level, FaultKind::AccessFlag));
        }
        match (leaf.ap2, leaf.ap10 >> 1) {
            (false, 0) => (true, true, false, false),
            (false, _) => (true, true, true, true),
            (true, 0) => (true, false, false, false),
            (true, _) => (true, false, true, false),
        }
    } else {
        match (leaf.ap2, leaf.ap10) {
            (false, 0) | (true, 0) => (false, false, false, false),
            (false, 1) => (true, true, false, false),
            (false, 2) => (true, true, true, false),
            (false, _) => (true, true, true, true),
            (true, 1) => (true, false, false, false),
            (true, _) => (true, false, true, false),
        }
    };
    let perms = if dom == 3 {
        Perms {
            kernel_read: true,
            kernel_write: true,
            kernel_exec: true,
            user_read: true,
            user_write: true,
            user_exec: true,
        }
    } else {
        Perms {
            kernel_read: kr,
            kernel_write: kw,
            kernel_exec: kr && !leaf.xn && !leaf.pxn,
            user_read: ur,
            user_write: uw,
            user_exec: ur && !leaf.xn,
        }
    };
    let user = perms.user_read;
    Ok(RefTranslation {
        pa: leaf.base | (va & (leaf.size - 1)),
        page_size: leaf.size,
        level: leaf.level,
        readable: if user { perms.user_read } else { perms.kernel_read },
        writable: if user { perms.user_write } else { perms.kernel_write },
        executable: if user { perms.user_exec } else { perms.kernel_exec },
        user,
        global: !leaf.ng,
        memtype: short_memtype(cfg, leaf.tex, leaf.c, leaf.b),
        raw_leaf: leaf.raw,
        perms,
        store_needs_dirty: false,
    })
}

/// Translate `va` with the long-descriptor (LPAE) format.
pub fn walk_lpae(mem: &impl PhysMem, cfg: &LpaeConfig, va: u64) -> WalkResult {
    if va >> 32 != 0 {
        return Err(Fault::new(2, FaultKind::NonCanonical));
    }
    let t0sz = cfg.ttbcr & 7;
    let t1sz = (cfg.ttbcr >> 16) & 7;
    let ttbr0_end = if t0sz > 0 { 1u64 << (32 - t0sz) } else { 1 << 32 };
    let ttbr1_start = if t1sz > 0 { (1u64 << 32) - (1u64 << (32 - t1sz)) } else { 0 };
    let (ttbr, tsz, epd) = if t0sz == 0 && t1sz == 0 {
        (cfg.ttbr0, 0, bit(cfg.ttbcr as u64, 7))
    } else if va < ttbr0_end && (t0sz > 0 || va < ttbr1_start) {
        (cfg.ttbr0, t0sz, bit(cfg.ttbcr as u64, 7))
    } else if va >= ttbr1_start && (t1sz > 0 || va >= ttbr0_end) {
        (cfg.ttbr1, t1sz, bit(cfg.ttbcr as u64, 23))
    } else {
        return Err(Fault::new(2, FaultKind::NonCanonical));
    };
    let start: u32 = if tsz <= 1 { 1 } else { 2 };
    if epd {
        return Err(Fault::new(3 - start as usize, FaultKind::NonCanonical));
    }
    let x = if start == 1 { 5 - tsz } else { 14 - tsz };
    let mut table = ttbr & field(39, x);
    let (mut no_pl0, mut no_write, mut pxn_t, mut xn_t) = (false, false, false, false);
    for arm_level in start..=3u32 {
        let level = (3 - arm_level) as usize;
        let lsb = 12 + 9 * level as u32;
        let msb = if arm_level == start { 31 - tsz } else { lsb + 8 };
        let desc = read_le64(mem, table + bits(va, msb, lsb) * 8);
        if desc & 1 == 0 {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        if bits(desc, 47, 40) != 0 {
            return Err(Fault::new(level, FaultKind::AddressSize));
        }
        if arm_level < 3 && desc & 2 != 0 {
            table = desc & field(39, 12);
            pxn_t |= bit(desc, 59);
            xn_t |= bit(desc, 60);
            no_pl0 |= bit(desc, 61);
            no_write |= bit(desc, 62);
            continue;
        }
        if arm_level == 3 && desc & 2 == 0 {
            return Err(Fault::new(level, FaultKind::Reserved(1)));
        }
        if !bit(desc, 10) {
            return Err(Fault::new(level, FaultKind::AccessFlag));
        }
        let size = 1u64 << lsb;
        let ap = bits(desc, 7, 6);
        let ur = ap & 1 != 0 && !no_pl0;
        let ro = ap & 2 != 0 || no_write;
        let xn = bit(desc, 54) || xn_t;
        let perms = Perms {
            kernel_read: true,
            kernel_write: !ro,
            kernel_exec: !xn && !bit(desc, 53) && !pxn_t,
            user_read: ur,
            user_write: ur && !ro,
            user_exec: ur && !xn,
        };
        let idx = bits(desc, 4, 2);
        let mair = if idx < 4 { cfg.mair0 } else { cfg.mair1 };
        let attr = (mair >> ((idx & 3) * 8)) as u8;
        return Ok(RefTranslation {
            pa: (desc & field(39, lsb)) | (va & (size - 1)),
            page_size: size,
            level,
            readable: true,
            writable: !ro,
            executable: if ur { perms.user_exec } else { perms.kernel_exec },
            user: ur,
            global: !bit(desc, 11),
            memtype: arm_attr_memtype(attr),
            raw_leaf: desc,
            perms,
            store_needs_dirty: false,
        });
    }
    unreachable!("level 3 always ends the walk")
}

/// `arm-short`: short-descriptor, TTBCR.N=0, TTBR0 = root, SCTLR.TRE=1, AFE=0, DACR = all
/// domains Client, PRRR/NMRR as Linux's `proc-v7-2level.S`, PXN implemented. `arm-lpae`:
/// TTBCR.EAE=1, T0SZ=T1SZ=0 (TTBR0 = root translates all 4 GiB: equivalent to Linux's split
/// where TTBR1 points into the same tables), MAIR0/MAIR1 as Linux's `proc-v7-3level.S`.
impl<const LPAE: bool> crate::refwalk::RefWalk for crate::arch::arm::ArmPaging<LPAE> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        if LPAE {
            walk_lpae(mem, &LpaeConfig::linux(root), va)
        } else {
            walk_short(mem, &ShortConfig::linux(root), va)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    // Short-descriptor bits.
    const SECTION: u32 = 0b10;
    const COARSE: u32 = 0b01;
    const SMALL: u32 = 0b10;
    const LARGE: u32 = 0b01;
    const fn sect_ap(ap2: u32, ap10: u32) -> u32 {
        ap2 << 15 | ap10 << 10
    }
    const fn page_ap(ap2: u32, ap10: u32) -> u32 {
        ap2 << 9 | ap10 << 4
    }
    const C: u32 = 1 << 3;
    const B: u32 = 1 << 2;

    #[test]
    fn short_section_and_supersection() {
        let mem = Mem::new();
        let cfg = ShortConfig::linux(0x4000);
        // Section for 0xc0000000 → 0x80000000: kernel RW (AP=0,01), WRITEALLOC (TEX0 C B).
        mem.le32(0x4000 + 0xc00 * 4, 0x8000_0000 | SECTION | sect_ap(0, 1) | 1 << 12 | C | B);
        let t = walk_short(&mem, &cfg, 0xc001_2345).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x8001_2345, 1 << 20, 1));
        assert!(t.readable && t.writable && t.executable && !t.user && t.global);
        assert_eq!(t.memtype, MemType::Normal);
        // Supersection: PA[39:36]=0x1 (bits 8:5), PA[35:32]=0x2 (bits 23:20), nG, XN, and
        // user read-only (AP=1,11); BUFFERABLE → WriteCombine. Sixteen identical entries.
        let ss = 0x4500_0000 | 2 << 20 | 1 << 5 | 1 << 18 | 1 << 17 | 1 << 4 | SECTION | sect_ap(1, 3) | B;
        for i in 0..16 {
            mem.le32(0x4000 + (0x100 + i) * 4, ss);
        }
        let t = walk_short(&mem, &cfg, 0x10ab_cdef).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x12_45ab_cdef, 1 << 24, 1));
        assert!(t.user && !t.writable && !t.executable && !t.global);
        assert_eq!(t.memtype, MemType::WriteCombine);
        assert_eq!(walk_short(&mem, &cfg, 0x0010_0000), Err(Fault::new(1, FaultKind::NotPresent)));
        // Type 0b11 = section with PXN; without PXN support it is reserved.
        mem.le32(0x4000 + 0x200 * 4, 0x2000_0000 | 0b11 | sect_ap(0, 1));
        let t = walk_short(&mem, &cfg, 0x2000_0000).unwrap();
        assert!(!t.executable);
        let nopxn = ShortConfig { pxn: false, ..cfg };
        assert_eq!(walk_short(&mem, &nopxn, 0x2000_0000), Err(Fault::new(1, FaultKind::Reserved(3))));
    }

    #[test]
    fn short_pages() {
        let mem = Mem::new();
        let cfg = ShortConfig::linux(0x4000);
        // First level entry 0x001 → second-level table at 0x8400, domain 1.
        mem.le32(0x4000 + 4, 0x8400 | COARSE | 1 << 5);
        // Small page at VA 0x00123000: user RW (AP=0,11), XN, DEV_SHARED (TEX[0]=1).
        mem.le32(0x8400 + 0x23 * 4, 0x1234_5000 | SMALL | 1 | page_ap(0, 3) | 1 << 6);
        let t = walk_short(&mem, &cfg, 0x0012_3abc).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x1234_5abc, 4096, 0));
        assert!(t.user && t.writable && !t.executable);
        assert_eq!(t.memtype, MemType::Device);
        // Large page (64KB, 16 copies) at VA 0x00140000, kernel RO, WT → Other(2).
        for i in 0..16 {
            mem.le32(0x8400 + (0x40 + i) * 4, 0xabcd_0000 | LARGE | page_ap(1, 1) | C);
        }
        let t = walk_short(&mem, &cfg, 0x0014_5678).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0xabcd_5678, 65536, 0));
        assert!(!t.user && !t.writable && t.readable);
        assert_eq!(t.memtype, MemType::Other(2));
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        assert_eq!(walk_short(&mem, &cfg, 0x0010_0000), Err(Fault::new(0, FaultKind::NotPresent)));
        // Domain 1 set to No access → domain fault; Manager → everything allowed.
        let noacc = ShortConfig { dacr: 0x5555_5551, ..cfg };
        assert_eq!(walk_short(&mem, &noacc, 0x0012_3000), Err(Fault::new(0, FaultKind::Domain)));
        let mgr = ShortConfig { dacr: 0x5555_555d, ..cfg };
        assert!(walk_short(&mem, &mgr, 0x0014_0000).unwrap().perms.user_write);
        // PXN in the page-table descriptor.
        mem.le32(0x4000 + 4, 0x8400 | COARSE | 1 << 5 | 1 << 2);
        mem.le32(0x8400 + 0x50 * 4, 0x5000 | SMALL | page_ap(0, 1));
        let t = walk_short(&mem, &cfg, 0x0015_0000).unwrap();
        assert!(!t.executable && t.writable);
    }

    #[test]
    fn short_split_and_afe() {
        let mem = Mem::new();
        // N = 2: VA[31:30] = 0 → TTBR0 (4KB table, VA[29:20]); others → TTBR1.
        let cfg = ShortConfig { ttbcr: 2, ttbr0: 0x1000, ttbr1: 0x8000, ..ShortConfig::linux(0) };
        mem.le32(0x1000 + 0x3ff * 4, 0x0010_0000 | SECTION | sect_ap(0, 1));
        mem.le32(0x8000 + 0xfff * 4, 0x0020_0000 | SECTION | sect_ap(0, 1));
        assert_eq!(walk_short(&mem, &cfg, 0x3ff0_0001).unwrap().pa, 0x0010_0001);
        assert_eq!(walk_short(&mem, &cfg, 0xfff0_0001).unwrap().pa, 0x0020_0001);
        let pd1 = ShortConfig { ttbcr: 2 | 1 << 5, ..cfg };
        assert_eq!(walk_short(&mem, &pd1, 0xfff0_0000).unwrap_err().kind, FaultKind::NonCanonical);
        // AFE=1: AP[0] = 0 is an access flag fault; AP[2:1] = 01 is RW for both.
        let afe = ShortConfig { afe: true, ..cfg };
        mem.le32(0x1000 + 0x3ff * 4, 0x0010_0000 | SECTION | sect_ap(0, 0b10));
        assert_eq!(walk_short(&mem, &afe, 0x3ff0_0000).unwrap_err().kind, FaultKind::AccessFlag);
        mem.le32(0x1000 + 0x3ff * 4, 0x0010_0000 | SECTION | sect_ap(0, 0b11));
        assert!(walk_short(&mem, &afe, 0x3ff0_0000).unwrap().perms.user_write);
        // TRE=0: TEX=001, C=B=1 is Normal WBWA; TEX=000 C=0 B=0 strongly ordered.
        let notre = ShortConfig { tre: false, ..cfg };
        mem.le32(0x1000 + 0x3fe * 4, 0x0030_0000 | SECTION | sect_ap(0, 1) | 1 << 12 | C | B);
        assert_eq!(walk_short(&mem, &notre, 0x3fe0_0000).unwrap().memtype, MemType::Normal);
        assert_eq!(walk_short(&mem, &notre, 0x3ff0_0000).unwrap().memtype, MemType::Device);
    }

    // LPAE bits.
    const TABLE: u64 = 0b11;
    const BLOCK: u64 = 0b01;
    const AF: u64 = 1 << 10;

    #[test]
    fn lpae_three_levels() {
        let mem = Mem::new();
        let cfg = LpaeConfig::linux(0x1000);
        // 1GB block for VA 0xc0000000 (level 1 index 3), WRITEALLOC (AttrIndx 7).
        mem.le64(0x1000 + 3 * 8, 0x80_0000_0000 >> 1 | BLOCK | AF | 7 << 2);
        let t = walk_lpae(&mem, &cfg, 0xc123_4567).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x40_0123_4567, 1 << 30, 2));
        assert_eq!(t.memtype, MemType::Normal);
        assert!(t.writable && t.executable && !t.user && t.global);
        // Level 1 index 0 → table 0x2000 with APTable[0] (no PL0); 2MB block; page table.
        mem.le64(0x1000, 0x2000 | TABLE | 1 << 61);
        mem.le64(0x2000 + 8, 0x60_0000 | BLOCK | AF | 1 << 6 | 1 << 11 | 1 << 2);
        let t = walk_lpae(&mem, &cfg, 0x0020_0010).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x60_0010, 2 << 20, 1));
        assert!(!t.user && !t.global);
        assert_eq!(t.memtype, MemType::WriteCombine);
        mem.le64(0x2000 + 2 * 8, 0x3000 | TABLE);
        mem.le64(0x3000 + 5 * 8, 0x9_8765_4000 | TABLE | AF | 3 << 6 | 1 << 54 | 4 << 2);
        let t = walk_lpae(&mem, &cfg, 0x0040_5123).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x9_8765_4123, 4096, 0));
        assert!(!t.user && !t.writable && !t.executable);
        assert_eq!(t.memtype, MemType::Device);
        // Faults: invalid, AF=0, level-3 block encoding, address bits 47:40.
        assert_eq!(walk_lpae(&mem, &cfg, 0x0040_6000), Err(Fault::new(0, FaultKind::NotPresent)));
        mem.le64(0x3000 + 6 * 8, 0x5000 | TABLE);
        assert_eq!(walk_lpae(&mem, &cfg, 0x0040_6000), Err(Fault::new(0, FaultKind::AccessFlag)));
        mem.le64(0x3000 + 7 * 8, 0x5000 | BLOCK | AF);
        assert_eq!(walk_lpae(&mem, &cfg, 0x0040_7000), Err(Fault::new(0, FaultKind::Reserved(1))));
        mem.le64(0x3000 + 8 * 8, 1 << 40 | 0x5000 | TABLE | AF);
        assert_eq!(walk_lpae(&mem, &cfg, 0x0040_8000), Err(Fault::new(0, FaultKind::AddressSize)));
        assert_eq!(walk_lpae(&mem, &cfg, 1 << 32), Err(Fault::new(2, FaultKind::NonCanonical)));
    }

    #[test]
    fn lpae_split() {
        let mem = Mem::new();
        // Linux VMSPLIT_3G: T1SZ = 2 → TTBR1 covers the top 1GB starting at level 2.
        let cfg = LpaeConfig { ttbr0: 0x1000, ttbr1: 0x4000, ttbcr: 1 << 31 | 2 << 16, ..LpaeConfig::linux(0) };
        mem.le64(0x4000 + 0x1ff * 8, 0x3fe0_0000 | BLOCK | AF | 1 << 6);
        let t = walk_lpae(&mem, &cfg, 0xffe0_0001).unwrap();
        assert_eq!((t.pa, t.level), (0x3fe0_0001, 1));
        assert!(t.user && t.perms.user_write);
        assert!(t.check(Access { user: true, write: true, exec: false }).is_ok());
        mem.le64(0x1000 + 2 * 8, 0x8000_0000 | BLOCK | AF);
        assert_eq!(walk_lpae(&mem, &cfg, 0x8000_0000).unwrap().pa, 0x8000_0000);
        let epd1 = LpaeConfig { ttbcr: cfg.ttbcr | 1 << 23, ..cfg };
        assert_eq!(walk_lpae(&mem, &epd1, 0xffe0_0000).unwrap_err().kind, FaultKind::NonCanonical);
    }
}
