//! x86 reference walker: Intel SDM vol. 3A, chapter 4 "Paging".
//!
//! The paging mode comes from the control registers as in SDM 4.1.1 ("Four Paging Modes"): CR4.PAE=0
//! is 32-bit paging (4.3); CR4.PAE=1 with IA32_EFER.LME=0 is PAE paging (4.4); with LME=1
//! it is 4-level paging, or 5-level paging if CR4.LA57=1 (4.5). CR0.PG=1 is implied.
//!
//! # Entry bits (the entry-format tables of SDM 4.3 (32-bit), 4.4.2 (PAE), 4.5.4 (4/5-level))
//!
//! | bit | meaning |
//! |---|---|
//! | 0 P | present; 0 → not-present fault (4.7) |
//! | 1 R/W | 0 → writes not allowed (combined over all levels, 4.6) |
//! | 2 U/S | 0 → user-mode accesses not allowed (combined over all levels, 4.6) |
//! | 3 PWT, 4 PCD | page-level write-through / cache-disable, part of the PAT index (4.9.2) |
//! | 5 A, 6 D | accessed / dirty, set by the processor; never fault |
//! | 7 PS | in a PDE (CR4.PSE=1 or PAE) or PDPTE (4-level, 1-GByte pages): maps a page; reserved in PML4Es/PML5Es; in a 4-KByte PTE bit 7 is PAT |
//! | 8 G | global (honoured when CR4.PGE=1), leaf entries only |
//! | 12 PAT | in large-page entries (bit 7 in 4-KByte PTEs) |
//! | M-1:12 | address (M = MAXPHYADDR); bits 51:M reserved ("Rsvd" in 4.5's tables) |
//! | 20:13 / 29:13 | reserved in 2-MByte / 1-GByte page entries (PAT is bit 12) |
//! | 62:59 | protection key (4-level leafs); ignored here (CR4.PKE=0 assumed) |
//! | 63 XD | execute-disable when IA32_EFER.NXE=1, otherwise reserved (4.5, 4.6) |
//!
//! 32-bit paging (4.3): 32-bit entries, no XD, no reserved bits in PTEs. A 4-MByte PDE
//! (CR4.PSE=1, PS=1) holds PA\[31:22\] in bits 31:22 and, with PSE-36, PA\[M-1:32\] in bits
//! (M-20):13; bit 21 and bits 20:(M-19) are reserved (M is at most 40 here). With
//! CR4.PSE=0 bit 7 of a PDE is ignored.
//!
//! PAE (4.4): CR3\[31:5\] locates the 4-entry PDPT; PDPTEs have only P, PWT, PCD and the
//! address; bits 2:1, 8:5 and 63:M are reserved (4.4.1, PDPTE format). PDPTEs do not take part in
//! access rights.
//!
//! Linear addresses must be canonical in 4/5-level paging (bits 63:47 resp. 63:56 equal,
//! SDM 3.3.7.1, 4.5); otherwise the access is a #GP, reported as
//! [`FaultKind::NonCanonical`]. 32-bit and PAE paging translate 32-bit linear addresses;
//! a `va` with bits above 31 is reported the same way.
//!
//! # Access rights (SDM 4.6)
//!
//! Assumptions: CR0.WP=1, CR4.SMEP=0, CR4.SMAP=0, CR4.PKE=0. Then supervisor reads are
//! always allowed, supervisor writes need R/W=1 at every level, supervisor fetches need
//! XD=0 at every level (NXE=1); user accesses need U/S=1 at every level, plus R/W=1 at
//! every level for writes and XD=0 at every level for fetches.
//!
//! # Memory type (SDM 4.9.2, 11.12.3)
//!
//! The PAT index is PAT·4 + PCD·2 + PWT of the leaf; the type is that byte of the
//! IA32_PAT MSR (0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-). MTRRs are assumed to be WB
//! everywhere, so the PAT type is the effective type. WB → Normal, WC → WriteCombine,
//! UC/UC- → Device, WT/WP → `Other(type)`.

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::{bit, bits, field, read_le32, read_le64, sign_extended, Fault, FaultKind, MemType};
use crate::refwalk::{Perms, RefTranslation, WalkResult};

/// IA32_PAT as Linux programs it (`pat_bp_init`): PAT0..7 = WB, WC, UC-, UC, WB, WP, UC-, WT.
pub const LINUX_PAT: u64 = 0x0407_0506_0007_0106;

/// The registers that select and parameterise x86 paging.
#[derive(Clone, Copy, Debug)]
pub struct X86Config {
    /// CR3.
    pub cr3: u64,
    /// CR4.PSE (4-MByte pages in 32-bit paging).
    pub cr4_pse: bool,
    /// CR4.PAE.
    pub cr4_pae: bool,
    /// CR4.LA57 (5-level paging in IA-32e mode).
    pub cr4_la57: bool,
    /// IA32_EFER.LME (IA-32e mode; with CR0.PG=1 this is LMA).
    pub efer_lme: bool,
    /// IA32_EFER.NXE (execute-disable bit enabled).
    pub efer_nxe: bool,
    /// CPUID.80000001H:EDX.Page1GB (1-GByte pages in 4/5-level paging).
    pub page1gb: bool,
    /// MAXPHYADDR (CPUID.80000008H:EAX\[7:0\]); at most 52 (40 for 32-bit paging's PSE-36).
    pub maxphyaddr: u32,
    /// IA32_PAT MSR.
    pub pat: u64,
}

impl X86Config {
    fn long(cr3: u64, la57: bool) -> Self {
        Self {
            cr3,
            cr4_pse: true,
            cr4_pae: true,
            cr4_la57: la57,
            efer_lme: true,
            efer_nxe: true,
            page1gb: true,
            maxphyaddr: 52,
            pat: LINUX_PAT,
        }
    }
    /// Linux x86-64 with 4-level paging.
    pub fn linux_4level(cr3: u64) -> Self {
        Self::long(cr3, false)
    }
    /// Linux x86-64 with 5-level paging.
    pub fn linux_5level(cr3: u64) -> Self {
        Self::long(cr3, true)
    }
    /// Linux i386 without PAE: 32-bit paging with PSE (and PSE-36, MAXPHYADDR 40).
    pub fn linux_i386_2level(cr3: u64) -> Self {
        Self { cr4_pae: false, efer_lme: false, efer_nxe: false, maxphyaddr: 40, ..Self::long(cr3, false) }
    }
    /// Linux i386 with PAE and NX.
    pub fn linux_i386_pae(cr3: u64) -> Self {
        Self { efer_lme: false, ..Self::long(cr3, false) }
    }
}

/// Access rights accumulated over the paging-structure entries of a walk.
struct Acc {
    rw: bool,
    us: bool,
    xd: bool,
}

fn pat_memtype(pat: u64, idx: u64) -> MemType {
    let ty = (pat >> (idx * 8)) & 0xff;
    match ty {
        6 => MemType::Normal,
        1 => MemType::WriteCombine,
        0 | 7 => MemType::Device,
        t => MemType::Other(t),
    }
}

fn leaf(cfg: &X86Config, acc: &Acc, e: u64, level: usize, pa: u64, page_size: u64, pat_bit: u32) -> RefTranslation {
    let exec = !acc.xd;
    let perms = Perms {
        kernel_read: true,
        kernel_write: acc.rw,
        kernel_exec: exec,
        user_read: acc.us,
        user_write: acc.us && acc.rw,
        user_exec: acc.us && exec,
    };
    let idx = (bit(e, pat_bit) as u64) << 2 | (bit(e, 4) as u64) << 1 | bit(e, 3) as u64;
    RefTranslation {
        pa,
        page_size,
        level,
        readable: true,
        writable: acc.rw,
        executable: exec,
        user: acc.us,
        global: bit(e, 8),
        memtype: pat_memtype(cfg.pat, idx),
        raw_leaf: e,
        perms,
        store_needs_dirty: false,
    }
}

/// Translate `va` with the paging mode `cfg` selects.
pub fn walk(mem: &impl PhysMem, cfg: &X86Config, va: u64) -> WalkResult {
    if !cfg.cr4_pae {
        walk_32bit(mem, cfg, va)
    } else if !cfg.efer_lme {
        walk_pae(mem, cfg, va)
    } else {
        walk_long(mem, cfg, va)
    }
}

/// Reserved bits 51:M (empty when M = 52).
fn high_rsvd(m: u32) -> u64 {
    if m >= 52 {
        0
    } else {
        field(51, m)
    }
}

fn walk_long(mem: &impl PhysMem, cfg: &X86Config, va: u64) -> WalkResult {
    let levels = if cfg.cr4_la57 { 5 } else { 4 };
    let top = levels - 1;
    if !sign_extended(va, if cfg.cr4_la57 { 56 } else { 47 }) {
        return Err(Fault::new(top, FaultKind::NonCanonical));
    }
    let m = cfg.maxphyaddr.min(52);
    let addr = field(m - 1, 12);
    let mut rsvd_all = high_rsvd(m);
    if !cfg.efer_nxe {
        rsvd_all |= 1 << 63;
    }
    let mut table = cfg.cr3 & addr;
    let mut acc = Acc { rw: true, us: true, xd: false };
    for level in (0..levels).rev() {
        let shift = 12 + 9 * level as u32;
        let e = read_le64(mem, table + bits(va, shift + 8, shift) * 8);
        if !bit(e, 0) {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        let ps = bit(e, 7);
        let mut rsvd = rsvd_all;
        let is_leaf = match level {
            0 => true,
            1 => ps,
            2 => {
                if ps && !cfg.page1gb {
                    rsvd |= 1 << 7;
                }
                ps
            }
            _ => {
                rsvd |= 1 << 7; // PS is reserved in PML4Es and PML5Es
                false
            }
        };
        if is_leaf && level > 0 {
            rsvd |= field(shift - 1, 13); // between PAT (bit 12) and the frame address
        }
        if e & rsvd != 0 {
            return Err(Fault::new(level, FaultKind::Reserved(e & rsvd)));
        }
        acc.rw &= bit(e, 1);
        acc.us &= bit(e, 2);
        acc.xd |= cfg.efer_nxe && bit(e, 63);
        if is_leaf {
            let size = 1u64 << shift;
            let pa = (e & field(m - 1, shift)) | (va & (size - 1));
            let pat_bit = if level == 0 { 7 } else { 12 };
            return Ok(leaf(cfg, &acc, e, level, pa, size, pat_bit));
        }
        table = e & addr;
    }
    unreachable!("level 0 is always a leaf")
}

fn walk_pae(mem: &impl PhysMem, cfg: &X86Config, va: u64) -> WalkResult {
    if va >> 32 != 0 {
        return Err(Fault::new(2, FaultKind::NonCanonical));
    }
    let m = cfg.maxphyaddr.min(52);
    let addr = field(m - 1, 12);
    let xd_rsvd = if cfg.efer_nxe { 0 } else { 1 << 63 };
    // PDPTE (4.4.1): P, PWT, PCD, address; 2:1, 8:5 and 63:M reserved.
    let pdpte = read_le64(mem, (cfg.cr3 & field(31, 5)) + bits(va, 31, 30) * 8);
    if !bit(pdpte, 0) {
        return Err(Fault::new(2, FaultKind::NotPresent));
    }
    let rsvd = field(2, 1) | field(8, 5) | field(63, m.min(63));
    if pdpte & rsvd != 0 {
        return Err(Fault::new(2, FaultKind::Reserved(pdpte & rsvd)));
    }
    let mut acc = Acc { rw: true, us: true, xd: false };
    let rsvd = field(62, m) | xd_rsvd;
    let pde = read_le64(mem, (pdpte & addr) + bits(va, 29, 21) * 8);
    if !bit(pde, 0) {
        return Err(Fault::new(1, FaultKind::NotPresent));
    }
    let ps = bit(pde, 7);
    let prsvd = if ps { rsvd | field(20, 13) } else { rsvd };
    if pde & prsvd != 0 {
        return Err(Fault::new(1, FaultKind::Reserved(pde & prsvd)));
    }
    acc.rw &= bit(pde, 1);
    acc.us &= bit(pde, 2);
    acc.xd |= cfg.efer_nxe && bit(pde, 63);
    if ps {
        let pa = (pde & field(m - 1, 21)) | (va & 0x1f_ffff);
        return Ok(leaf(cfg, &acc, pde, 1, pa, 1 << 21, 12));
    }
    let pte = read_le64(mem, (pde & addr) + bits(va, 20, 12) * 8);
    if !bit(pte, 0) {
        return Err(Fault::new(0, FaultKind::NotPresent));
    }
    if pte & rsvd != 0 {
        return Err(Fault::new(0, FaultKind::Reserved(pte & rsvd)));
    }
    acc.rw &= bit(pte, 1);
    acc.us &= bit(pte, 2);
    acc.xd |= cfg.efer_nxe && bit(pte, 63);
    let pa = (pte & addr) | (va & 0xfff);
    Ok(leaf(cfg, &acc, pte, 0, pa, 1 << 12, 7))
}

fn walk_32bit(mem: &impl PhysMem, cfg: &X86Config, va: u64) -> WalkResult {
    if va >> 32 != 0 {
        return Err(Fault::new(1, FaultKind::NonCanonical));
    }
    let m = cfg.maxphyaddr.clamp(32, 40);
    let pde = read_le32(mem, (cfg.cr3 & 0xffff_f000) + bits(va, 31, 22) * 4) as u64;
    if !bit(pde, 0) {
        return Err(Fault::new(1, FaultKind::NotPresent));
    }
    let mut acc = Acc { rw: bit(pde, 1), us: bit(pde, 2), xd: false };
    if cfg.cr4_pse && bit(pde, 7) {
        // 4-MByte page (4.3, PDE that maps a 4-MByte page): bit 21 and bits 20:(M-19) are reserved.
        let rsvd = field(21, m - 19);
        if pde & rsvd != 0 {
            return Err(Fault::new(1, FaultKind::Reserved(pde & rsvd)));
        }
        let hi = if m > 32 { bits(pde, m - 20, 13) << 32 } else { 0 };
        let pa = (pde & 0xffc0_0000) | hi | (va & 0x3f_ffff);
        return Ok(leaf(cfg, &acc, pde, 1, pa, 1 << 22, 12));
    }
    let pte = read_le32(mem, (pde & 0xffff_f000) + bits(va, 21, 12) * 4) as u64;
    if !bit(pte, 0) {
        return Err(Fault::new(0, FaultKind::NotPresent));
    }
    acc.rw &= bit(pte, 1);
    acc.us &= bit(pte, 2);
    let pa = (pte & 0xffff_f000) | (va & 0xfff);
    Ok(leaf(cfg, &acc, pte, 0, pa, 1 << 12, 7))
}

/// `x86_64-4level`: CR3 = root, CR4.PAE=1, CR4.LA57=0, EFER.LME=1, EFER.NXE=1, MAXPHYADDR
/// 52, Linux's PAT (`pat_bp_init`: PAT0..7 = WB, WC, UC-, UC, WB, WP, UC-, WT; MTRRs are
/// assumed to say WB everywhere). `x86_64-5level`: the same with CR4.LA57=1.
impl<const LA57: bool> crate::refwalk::RefWalk for crate::arch::x86_64::X86Paging<LA57> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        let cfg = if LA57 { X86Config::linux_5level(root) } else { X86Config::linux_4level(root) };
        walk(mem, &cfg, va)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    const P: u64 = 1;
    const RW: u64 = 2;
    const US: u64 = 4;
    const PWT: u64 = 8;
    const PCD: u64 = 16;
    const PS: u64 = 128;
    const G: u64 = 256;
    const XD: u64 = 1 << 63;

    fn idx(va: u64, level: u32) -> u64 {
        (va >> (12 + 9 * level)) & 511
    }

    #[test]
    fn linux_pat_value() {
        // Byte n is PAT entry n: WB(6) WC(1) UC-(7) UC(0) WB(6) WP(5) UC-(7) WT(4).
        assert_eq!(LINUX_PAT.to_le_bytes(), [6, 1, 7, 0, 6, 5, 7, 4]);
    }

    /// 4-level: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000.
    fn four_level(mem: &Mem, va: u64, pte: u64) {
        mem.le64(0x1000 + idx(va, 3) * 8, 0x2000 | P | RW | US);
        mem.le64(0x2000 + idx(va, 2) * 8, 0x3000 | P | RW | US);
        mem.le64(0x3000 + idx(va, 1) * 8, 0x4000 | P | RW | US);
        mem.le64(0x4000 + idx(va, 0) * 8, pte);
    }

    #[test]
    fn four_level_4k_page() {
        let mem = Mem::new();
        let va = 0x0000_7f12_3456_7abc;
        four_level(&mem, va, 0x1234_5000 | P | RW | US | G);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap();
        assert_eq!(t.pa, 0x1234_5abc);
        assert_eq!((t.page_size, t.level), (4096, 0));
        assert!(t.readable && t.writable && t.executable && t.user && t.global);
        assert_eq!(t.memtype, MemType::Normal);
        assert!(t.check(Access { write: true, user: true, exec: false }).is_ok());
    }

    #[test]
    fn rights_combine_over_levels() {
        let mem = Mem::new();
        let va = 0x0000_0000_4020_1000;
        four_level(&mem, va, 0x5000 | P | RW | US);
        // Clear R/W in the PDPTE and set XD in the PML4E: the whole path loses them.
        mem.le64(0x2000 + idx(va, 2) * 8, 0x3000 | P | US);
        mem.le64(0x1000 + idx(va, 3) * 8, 0x2000 | P | RW | US | XD);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap();
        assert!(!t.writable && !t.executable && t.user);
        assert!(t.check(Access { write: true, ..Access::default() }).is_err());
        assert!(t.check(Access { exec: true, ..Access::default() }).is_err());
        // Clear U/S in the PDE: supervisor page.
        mem.le64(0x3000 + idx(va, 1) * 8, 0x4000 | P | RW);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap();
        assert!(!t.user && t.readable);
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        assert!(t.check(Access::default()).is_ok());
    }

    #[test]
    fn large_pages_and_pat() {
        let mem = Mem::new();
        let va = 0xffff_8880_4060_0123u64;
        mem.le64(0x1000 + idx(va, 3) * 8, 0x2000 | P | RW);
        // 1-GByte page at 3 GiB with PAT=1 (bit 12), PCD=0, PWT=1 → PAT5 = WP.
        mem.le64(0x2000 + idx(va, 2) * 8, 0xc000_0000 | P | RW | PS | G | (1 << 12) | PWT);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap();
        assert_eq!(t.pa, 0xc000_0000 + (va & 0x3fff_ffff));
        assert_eq!((t.page_size, t.level), (1 << 30, 2));
        assert_eq!(t.memtype, MemType::Other(5));
        assert!(!t.user && t.global);
        // 2-MByte page with PWT → PAT1 = WC.
        mem.le64(0x2000 + idx(va, 2) * 8, 0x3000 | P | RW);
        mem.le64(0x3000 + idx(va, 1) * 8, 0x20_0000 | P | RW | PS | PWT | XD);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap();
        assert_eq!(t.pa, 0x20_0000 + (va & 0x1f_ffff));
        assert_eq!((t.page_size, t.level), (1 << 21, 1));
        assert_eq!(t.memtype, MemType::WriteCombine);
        assert!(!t.executable);
        // PCD|PWT → PAT3 = UC.
        mem.le64(0x3000 + idx(va, 1) * 8, 0x20_0000 | P | RW | PS | PCD | PWT);
        assert_eq!(walk(&mem, &X86Config::linux_4level(0x1000), va).unwrap().memtype, MemType::Device);
        // A 4-KByte PTE's PAT bit is bit 7: PAT=1 PCD=1 PWT=1 → PAT7 = WT.
        four_level(&mem, 0x1000, 0x9000 | P | PS | PCD | PWT);
        let t = walk(&mem, &X86Config::linux_4level(0x1000), 0x1000).unwrap();
        assert_eq!((t.memtype, t.level), (MemType::Other(4), 0));
    }

    #[test]
    fn faults() {
        let mem = Mem::new();
        let cfg = X86Config::linux_4level(0x1000);
        let va = 0x0000_1234_5678_9000;
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(3, FaultKind::NotPresent)));
        four_level(&mem, va, 0x7000 | RW); // P=0 in the PTE
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::NotPresent)));
        // Bit 47 set in an address with MAXPHYADDR 46 is reserved.
        four_level(&mem, va, (1 << 47) | 0x7000 | P);
        let c46 = X86Config { maxphyaddr: 46, ..cfg };
        assert_eq!(walk(&mem, &c46, va), Err(Fault::new(0, FaultKind::Reserved(1 << 47))));
        assert!(walk(&mem, &cfg, va).is_ok());
        // XD with NXE=0 is a reserved bit.
        four_level(&mem, va, XD | 0x7000 | P);
        let nonx = X86Config { efer_nxe: false, ..cfg };
        assert_eq!(walk(&mem, &nonx, va), Err(Fault::new(0, FaultKind::Reserved(XD))));
        // PS in a PML4E is reserved.
        mem.le64(0x1000 + idx(va, 3) * 8, 0x2000 | P | PS);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(3, FaultKind::Reserved(PS))));
        // Bits 20:13 of a 2-MByte PDE are reserved.
        mem.le64(0x1000 + idx(va, 3) * 8, 0x2000 | P);
        mem.le64(0x3000 + idx(va, 1) * 8, 0x40_2000 | P | PS);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(1, FaultKind::Reserved(0x2000))));
        // Non-canonical.
        assert_eq!(walk(&mem, &cfg, 0x0000_8000_0000_0000), Err(Fault::new(3, FaultKind::NonCanonical)));
    }

    #[test]
    fn five_level() {
        let mem = Mem::new();
        let va = 0xff11_2233_4455_6000u64; // canonical for LA57 only
        assert_eq!(walk(&mem, &X86Config::linux_4level(0x1000), va), Err(Fault::new(3, FaultKind::NonCanonical)));
        mem.le64(0x1000 + idx(va, 4) * 8, 0x5000 | P | RW);
        mem.le64(0x5000 + idx(va, 3) * 8, 0x2000 | P | RW);
        mem.le64(0x2000 + idx(va, 2) * 8, 0x3000 | P | RW);
        mem.le64(0x3000 + idx(va, 1) * 8, 0x4000 | P | RW);
        mem.le64(0x4000 + idx(va, 0) * 8, 0xabcd_e000 | P);
        let t = walk(&mem, &X86Config::linux_5level(0x1000), va).unwrap();
        assert_eq!(t.pa, 0xabcd_e000);
        assert!(!t.writable);
        assert_eq!(
            walk(&mem, &X86Config::linux_5level(0x1000), 0x0100_0000_0000_0000),
            Err(Fault::new(4, FaultKind::NonCanonical))
        );
    }

    #[test]
    fn i386_2level() {
        let mem = Mem::new();
        let cfg = X86Config::linux_i386_2level(0x1000);
        // 4-KByte page: PD[0x300] → PT 0x2000, PTE[0x45] → 0x0abc_d000.
        let va = 0xc004_5123u64;
        mem.le32(0x1000 + 0x300 * 4, 0x2000 | (P | RW) as u32);
        mem.le32(0x2000 + 0x45 * 4, 0x0abc_d000 | (P | US) as u32);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.level, t.page_size), (0x0abc_d123, 0, 4096));
        // U/S combines: the PDE is supervisor, so the page is too. No NX: executable.
        assert!(!t.user && !t.writable && t.executable);
        // 4-MByte page with PSE-36: PA[35:32] = 0x3 in bits 16:13.
        mem.le32(0x1000 + 0x301 * 4, 0x0840_0000 | (3 << 13) | (P | RW | US | PS) as u32);
        let t = walk(&mem, &cfg, 0xc047_6543).unwrap();
        assert_eq!((t.pa, t.level, t.page_size), (0x3_0847_6543, 1, 4 << 20));
        // Bit 21 is reserved in a 4-MByte PDE.
        mem.le32(0x1000 + 0x302 * 4, 0x0820_0000 | (P | PS) as u32);
        assert_eq!(walk(&mem, &cfg, 0xc080_0000), Err(Fault::new(1, FaultKind::Reserved(1 << 21))));
        // With CR4.PSE=0, PS is ignored: the PDE points at a page table.
        let nopse = X86Config { cr4_pse: false, ..cfg };
        mem.le32(0x1000 + 0x303 * 4, 0x3000 | (P | PS) as u32);
        mem.le32(0x3000 + 4, 0x5000 | P as u32);
        assert_eq!(walk(&mem, &nopse, 0xc0c0_1000).unwrap().pa, 0x5000);
        assert_eq!(walk(&mem, &cfg, 0x0000_0000), Err(Fault::new(1, FaultKind::NotPresent)));
    }

    #[test]
    fn i386_pae() {
        let mem = Mem::new();
        let cfg = X86Config::linux_i386_pae(0x1020); // the PDPT is 32-byte aligned
        let va = 0xc060_2345u64;
        mem.le64(0x1020 + 3 * 8, 0x2000 | P);
        mem.le64(0x2000 + 3 * 8, 0x3000 | P | RW);
        mem.le64(0x3000 + 2 * 8, 0x1_2345_6000 | P | RW | XD);
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.level), (0x1_2345_6345, 0));
        assert!(t.writable && !t.executable && !t.user);
        // 2-MByte page.
        mem.le64(0x2000 + 4 * 8, 0x4000_0000 | P | PS | US);
        let t = walk(&mem, &cfg, 0xc080_1234).unwrap();
        assert_eq!((t.pa, t.level, t.page_size), (0x4000_1234, 1, 2 << 20));
        assert!(t.user && !t.writable);
        // Reserved bits in a PDPTE (R/W is reserved there).
        mem.le64(0x1020 + 2 * 8, 0x5000 | P | RW);
        assert_eq!(walk(&mem, &cfg, 0x8000_0000), Err(Fault::new(2, FaultKind::Reserved(RW))));
        assert_eq!(walk(&mem, &cfg, 0x4000_0000), Err(Fault::new(2, FaultKind::NotPresent)));
    }
}
