//! s390x reference walker: z/Architecture Principles of Operation (SA22-7832), chapter 3
//! "Storage", section "Dynamic Address Translation" (3.11 in recent editions): the ASCE,
//! region-first/second/third tables, segment tables and page tables, with the
//! enhanced-DAT facilities 1 and 2 (1MB segment frames, 2GB region frames) and the
//! instruction-execution-protection facility.
//!
//! IBM numbers bits from the left: bit 0 is the most significant bit of a 64-bit entry.
//! Below, "bit n" is IBM numbering and the LSB-0 position is given as `1 << (63 − n)`.
//! All tables are big-endian in storage; entries are read as raw 64-bit words and
//! byte-swapped.
//!
//! # Virtual address (Figure "Format of the Virtual Address")
//!
//! RFX bits 0-10, RSX 11-21, RTX 22-32, SX 33-43, PX 44-51, BX 52-63; i.e. LSB-0
//! VA\[63:53\], \[52:42\], \[41:31\], \[30:20\], \[19:12\], \[11:0\].
//!
//! # ASCE (Figure "Address-Space-Control Element")
//!
//! bits 0-51 table origin (4KB units); 54 G; 55 P; 56 S; 57 X; 58 R (real space: no
//! translation); 60-61 DT (designation type: 11 region-first, 10 region-second, 01
//! region-third, 00 segment table); 62-63 TL (table length in 4KB units − 1). If DT says
//! the first table is below region-first, the VA bits above that table's index must be
//! zero, otherwise an ASCE-type exception; the leftmost two bits of the first index
//! greater than TL are a region-first/second/third- or segment-translation exception
//! (both reported as [`FaultKind::NonCanonical`]).
//!
//! # Region-table entries (Figure "Region-Table-Entry Formats")
//!
//! bits 0-51 next table origin; 53 FC (region-third entries, EDAT-2: 2GB region frame,
//! region-frame absolute address in bits 0-32); 54 P (DAT protection, applies to the whole
//! region); 55 IEP (region-third FC=1 only); 56-57 TF (table offset of the next-level
//! table); 58 I (region invalid → region-translation exception); 59 CR (common region, FC=1);
//! 60-61 TT (must equal the table's type: 11 RF, 10 RS, 01 RT; otherwise a
//! translation-specification exception, reported as `Reserved(TT << 2)`); 62-63 TL. The
//! next index's leftmost two bits must lie in \[TF, TL\].
//!
//! # Segment-table entries (Figure "Segment-Table-Entry Formats")
//!
//! FC (bit 53) = 0: bits 0-52 page-table origin (2KB aligned, 256 entries). FC = 1 (EDAT-1):
//! bits 0-43 segment-frame absolute address (1MB). Common: 54 P, 55 IEP (FC=1 only),
//! 58 I (segment invalid), 59 CS (common segment: the TLB entry is usable for every
//! address space, reported as `global`), 60-61 TT = 00 (else translation-specification).
//! With FC=1, bits 47-52 (ACCF validity, ACC, F) are key-controlled protection, not
//! modelled (storage keys are assumed to permit everything).
//!
//! # Page-table entries (Figure "Page-Table-Entry Format")
//!
//! bits 0-51 page-frame real address; 52 must be 0 (translation-specification exception,
//! `Reserved(1 << 11)`); 53 I (page invalid → page-translation exception); 54 P (DAT
//! protection); 55 IEP (instruction-execution protection when the facility is enabled by
//! CR0 bit 20; otherwise must be 0); 56-63 available to programming.
//!
//! # Access control
//!
//! DAT protection: a store is refused if P is one in any entry on the path (with EDAT-1
//! the segment-table entry's P applies to the segment, with EDAT-2 region-table entries'
//! P to the region). Instruction-execution protection: IEP in the leaf (PTE, or FC=1
//! segment/region-third entry) refuses instruction fetches. DAT does not distinguish
//! privilege levels: the ASCE in use decides (Linux runs user code with the user ASCE);
//! [`S390Config::problem_state`] says whether this ASCE is used in problem state. Memory
//! type is always [`MemType::Normal`] (no memory types in DAT); real addresses are
//! treated as absolute (prefixing is not modelled).

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::WalkResult;
use crate::refwalk::{bit, bits, field, read_be64, Fault, FaultKind, MemType, Perms, RefTranslation};

/// ASCE designation type: region-first table (5 levels, 16EB).
pub const DT_REGION_FIRST: u64 = 0b11;
/// ASCE designation type: region-second table (4 levels, 8PB).
pub const DT_REGION_SECOND: u64 = 0b10;
/// ASCE designation type: region-third table (3 levels, 4TB).
pub const DT_REGION_THIRD: u64 = 0b01;
/// ASCE designation type: segment table (2 levels, 2GB).
pub const DT_SEGMENT: u64 = 0b00;

/// Entry bits, LSB-0.
const INVALID_REGION: u64 = 1 << 5; // bit 58
const TT_MASK: u64 = 0b1100; // bits 60-61
const FC: u64 = 1 << 10; // bit 53
const PROT: u64 = 1 << 9; // bit 54
const IEP: u64 = 1 << 8; // bit 55
const COMMON: u64 = 1 << 4; // bit 59
const PTE_INVALID: u64 = 1 << 10; // bit 53
const PTE_BIT52: u64 = 1 << 11; // bit 52

/// The ASCE and installed facilities.
#[derive(Clone, Copy, Debug)]
pub struct S390Config {
    /// The address-space-control element (e.g. CR1, the primary ASCE).
    pub asce: u64,
    /// Enhanced-DAT facility 1 installed and enabled (1MB frames, segment P).
    pub edat1: bool,
    /// Enhanced-DAT facility 2 installed (2GB frames).
    pub edat2: bool,
    /// Instruction-execution-protection facility enabled (CR0 bit 20).
    pub iep: bool,
    /// This address space is the one used in problem state (user).
    pub problem_state: bool,
}

impl S390Config {
    /// ASCE = `root` with designation type `dt` and TL = 3; EDAT-1, EDAT-2 and IEP on;
    /// a kernel address space.
    pub fn linux(root: u64, dt: u64) -> Self {
        Self {
            asce: (root & field(63, 12)) | dt << 2 | 0b11,
            edat1: true,
            edat2: true,
            iep: true,
            problem_state: false,
        }
    }
}

/// LSB of the index each level uses: level 0 (page table) .. level 4 (region-first).
const INDEX_LSB: [u32; 5] = [12, 20, 31, 42, 53];

/// Translate `va` with the ASCE.
pub fn walk(mem: &impl PhysMem, cfg: &S390Config, va: u64) -> WalkResult {
    let asce = cfg.asce;
    if bit(asce, 5) {
        // Real-space designation: the address is real.
        return Ok(leaf(cfg, va, 4096, 0, 0, false, false, false));
    }
    let dt = bits(asce, 3, 2);
    let top = dt as usize + 1; // level of the first table
                               // ASCE-type exception: VA bits above the first table's index must be zero.
    let first_msb = if top == 4 { 63 } else { INDEX_LSB[top + 1] - 1 };
    if first_msb < 63 && bits(va, 63, first_msb + 1) != 0 {
        return Err(Fault::new(top, FaultKind::NonCanonical));
    }
    let (mut tf, mut tl) = (0, bits(asce, 1, 0));
    let mut table = asce & field(63, 12);
    let mut prot = false;
    for level in (1..=top).rev() {
        let lsb = INDEX_LSB[level];
        let idx = bits(va, lsb + 10, lsb);
        // Table-length / table-offset check on the leftmost two bits of the index.
        let lead = idx >> 9;
        if lead < tf || lead > tl {
            return Err(Fault::new(level, FaultKind::NonCanonical));
        }
        let e = read_be64(mem, table + idx * 8);
        if e & INVALID_REGION != 0 {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        let want_tt = (level as u64 - 1) << 2; // RF 11, RS 10, RT 01, segment 00
        if e & TT_MASK != want_tt {
            return Err(Fault::new(level, FaultKind::Reserved(e & TT_MASK)));
        }
        let p_applies = if level == 1 { cfg.edat1 } else { cfg.edat1 || cfg.edat2 };
        prot |= p_applies && e & PROT != 0;
        if level == 2 && cfg.edat2 && e & FC != 0 {
            let size = 1u64 << 31;
            let pa = (e & field(63, 31)) | (va & (size - 1));
            let noexec = cfg.iep && e & IEP != 0;
            return Ok(leaf(cfg, pa, size, 2, e, prot, noexec, e & COMMON != 0));
        }
        if level == 1 {
            if cfg.edat1 && e & FC != 0 {
                let size = 1u64 << 20;
                let pa = (e & field(63, 20)) | (va & (size - 1));
                let noexec = cfg.iep && e & IEP != 0;
                return Ok(leaf(cfg, pa, size, 1, e, prot, noexec, e & COMMON != 0));
            }
            let pte = read_be64(mem, (e & field(63, 11)) + bits(va, 19, 12) * 8);
            if pte & PTE_INVALID != 0 {
                return Err(Fault::new(0, FaultKind::NotPresent));
            }
            let rsvd = PTE_BIT52 | if cfg.iep { 0 } else { IEP };
            if pte & rsvd != 0 {
                return Err(Fault::new(0, FaultKind::Reserved(pte & rsvd)));
            }
            prot |= pte & PROT != 0;
            let noexec = cfg.iep && pte & IEP != 0;
            let pa = (pte & field(63, 12)) | (va & 0xfff);
            return Ok(leaf(cfg, pa, 4096, 0, pte, prot, noexec, e & COMMON != 0));
        }
        tf = bits(e, 7, 6);
        tl = bits(e, 1, 0);
        table = e & field(63, 12);
    }
    unreachable!("the segment level ends the walk")
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    cfg: &S390Config,
    pa: u64,
    size: u64,
    level: usize,
    raw: u64,
    prot: bool,
    noexec: bool,
    common: bool,
) -> RefTranslation {
    let u = cfg.problem_state;
    let perms = Perms {
        kernel_read: true,
        kernel_write: !prot,
        kernel_exec: !noexec,
        user_read: u,
        user_write: u && !prot,
        user_exec: u && !noexec,
    };
    RefTranslation {
        pa,
        page_size: size,
        level,
        readable: true,
        writable: !prot,
        executable: !noexec,
        user: u,
        global: common,
        memtype: MemType::Normal,
        raw_leaf: raw,
        perms,
        store_needs_dirty: false,
    }
}

/// `s390x-3level/4level/5level`: primary ASCE = root with DT = region-third / region-second /
/// region-first and TL=3; EDAT-1, EDAT-2 and instruction-execution protection installed and
/// enabled.
impl<const N: usize> crate::refwalk::RefWalk for crate::arch::s390::S390Paging<N> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        let dt = match N {
            3 => DT_REGION_THIRD,
            4 => DT_REGION_SECOND,
            5 => DT_REGION_FIRST,
            _ => return Err(Fault::new(0, FaultKind::BadConfig)),
        };
        walk(mem, &S390Config::linux(root, dt), va)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    const TT_RF: u64 = 0b11 << 2;
    const TT_RS: u64 = 0b10 << 2;
    const TT_RT: u64 = 0b01 << 2;
    const TL3: u64 = 0b11;

    fn ix(va: u64, level: usize) -> u64 {
        let lsb = INDEX_LSB[level];
        let w = if level == 0 { 7 } else { 10 };
        bits(va, lsb + w, lsb)
    }

    /// Region-third table at 0x10000, segment table at 0x20000, page table at 0x30800.
    fn three_level(mem: &Mem, va: u64, pte: u64) {
        mem.be64(0x10000 + ix(va, 2) * 8, 0x20000 | TT_RT | TL3);
        mem.be64(0x20000 + ix(va, 1) * 8, 0x30800);
        mem.be64(0x30800 + ix(va, 0) * 8, pte);
    }

    #[test]
    fn three_level_page() {
        let mem = Mem::new();
        let cfg = S390Config::linux(0x10000, DT_REGION_THIRD);
        let va = 0x0000_0123_4567_8abcu64;
        three_level(&mem, va, 0x7654_3000 | 0x0ff); // software bits 56-63 are ignored
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x7654_3abc, 4096, 0));
        assert!(t.readable && t.writable && t.executable && !t.global);
        assert_eq!(t.memtype, MemType::Normal);
        // Protection in the PTE, IEP in the PTE.
        three_level(&mem, va, 0x7654_3000 | PROT | IEP);
        let t = walk(&mem, &cfg, va).unwrap();
        assert!(!t.writable && !t.executable);
        assert!(t.check(Access { write: true, ..Access::default() }).is_err());
        // Protection in the segment-table entry covers its pages.
        three_level(&mem, va, 0x7654_3000);
        mem.be64(0x20000 + ix(va, 1) * 8, 0x30800 | PROT | COMMON);
        let t = walk(&mem, &cfg, va).unwrap();
        assert!(!t.writable && t.global);
        // Invalid page, invalid segment, invalid region.
        three_level(&mem, va, 0x7654_3000 | PTE_INVALID);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::NotPresent)));
        mem.be64(0x20000 + ix(va, 1) * 8, INVALID_REGION);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(1, FaultKind::NotPresent)));
        mem.be64(0x10000 + ix(va, 2) * 8, INVALID_REGION | TT_RT);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(2, FaultKind::NotPresent)));
        // 4TB and above: ASCE-type exception.
        assert_eq!(walk(&mem, &cfg, 1 << 42), Err(Fault::new(2, FaultKind::NonCanonical)));
    }

    #[test]
    fn spec_exceptions() {
        let mem = Mem::new();
        let cfg = S390Config::linux(0x10000, DT_REGION_THIRD);
        let va = 0x8000_0000u64;
        three_level(&mem, va, 0x5000 | PTE_BIT52);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(PTE_BIT52))));
        let noiep = S390Config { iep: false, ..cfg };
        three_level(&mem, va, 0x5000 | IEP);
        assert_eq!(walk(&mem, &noiep, va), Err(Fault::new(0, FaultKind::Reserved(IEP))));
        // A region-third table entry with the wrong table type.
        mem.be64(0x10000 + ix(va, 2) * 8, 0x20000 | TT_RS | TL3);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(2, FaultKind::Reserved(TT_RS))));
        // A segment-table entry must have TT = 00.
        mem.be64(0x10000 + ix(va, 2) * 8, 0x20000 | TT_RT | TL3);
        mem.be64(0x20000 + ix(va, 1) * 8, 0x30800 | TT_RT);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(1, FaultKind::Reserved(TT_RT))));
        // Segment-table length 0 (one 4KB unit: SX < 512).
        mem.be64(0x20000 + ix(va, 1) * 8, 0x30800);
        mem.be64(0x10000 + ix(va, 2) * 8, 0x20000 | TT_RT); // TL = 0
        assert!(walk(&mem, &cfg, va).is_ok()); // SX of 0x80000000 is 0x000
        let hi = va | 0x7ff0_0000; // SX = 0x7ff: beyond TL = 0
        assert_eq!(walk(&mem, &cfg, hi), Err(Fault::new(1, FaultKind::NonCanonical)));
    }

    #[test]
    fn large_frames() {
        let mem = Mem::new();
        let cfg = S390Config::linux(0x10000, DT_REGION_THIRD);
        // 1MB segment frame with IEP.
        let va = 0x0000_0001_2340_5678u64;
        mem.be64(0x10000 + ix(va, 2) * 8, 0x20000 | TT_RT | TL3);
        mem.be64(0x20000 + ix(va, 1) * 8, 0x8_9ab0_0000 | FC | IEP);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x8_9ab0_5678, 1 << 20, 1));
        assert!(t.writable && !t.executable);
        // Without EDAT-1 the same entry is a page-table origin.
        let noedat = S390Config { edat1: false, ..cfg };
        assert_eq!(walk(&mem, &noedat, va).unwrap().page_size, 4096);
        // 2GB region-third frame, protected.
        mem.be64(0x10000 + ix(va, 2) * 8, 0x3_8000_0000 | FC | PROT | TT_RT);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x3_8000_0000 | (va & 0x7fff_ffff), 1 << 31, 2));
        assert!(!t.writable && t.executable);
    }

    #[test]
    fn five_and_four_levels() {
        let mem = Mem::new();
        let va = 0xfedc_ba98_7654_3210u64;
        let cfg = S390Config::linux(0x40000, DT_REGION_FIRST);
        mem.be64(0x40000 + ix(va, 4) * 8, 0x50000 | TT_RF | TL3);
        mem.be64(0x50000 + ix(va, 3) * 8, 0x60000 | TT_RS | TL3);
        mem.be64(0x60000 + ix(va, 2) * 8, 0x70000 | TT_RT | TL3);
        mem.be64(0x70000 + ix(va, 1) * 8, 0x80000);
        mem.be64(0x80000 + ix(va, 0) * 8, 0xabc_d000);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.level), (0xabc_d210, 0));
        // Region protection propagates.
        mem.be64(0x50000 + ix(va, 3) * 8, 0x60000 | TT_RS | TL3 | PROT);
        assert!(!walk(&mem, &cfg, va).unwrap().writable);
        mem.be64(0x50000 + ix(va, 3) * 8, 0x60000 | TT_RS | TL3);
        // Table offset: the region-second table's first unit is missing (TF = 1) while
        // the index's leftmost bits are 0.
        let va2 = va & !(0x600 << 42);
        mem.be64(0x40000 + ix(va2, 4) * 8, 0x50000 | TT_RF | 1 << 6 | TL3);
        assert_eq!(walk(&mem, &cfg, va2), Err(Fault::new(3, FaultKind::NonCanonical)));
        // Region-second designation: VA bits 63:53 must be zero.
        let c4 = S390Config::linux(0x50000, DT_REGION_SECOND);
        assert_eq!(walk(&mem, &c4, va), Err(Fault::new(3, FaultKind::NonCanonical)));
        let low = va & field(52, 0);
        assert_eq!(walk(&mem, &c4, low).unwrap().pa, 0xabc_d210);
    }
}
