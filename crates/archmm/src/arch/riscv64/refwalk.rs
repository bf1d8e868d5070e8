//! RISC-V reference walker: the RISC-V Privileged ISA, chapter "Supervisor-Level ISA",
//! sections "Supervisor Address Translation and Protection (satp) Register",
//! "Sv32/Sv39/Sv48/Sv57: Page-Based Virtual-Memory Systems" and "Virtual Address
//! Translation Process", plus the Svpbmt and Svnapot extension chapters.
//!
//! # satp (RV64)
//!
//! MODE 63:60 (0 Bare, 8 Sv39, 9 Sv48, 10 Sv57; others reserved → [`FaultKind::BadConfig`]),
//! ASID 59:44, PPN 43:0 (root table = PPN × 4096).
//!
//! # Virtual addresses
//!
//! Sv39/Sv48/Sv57 translate 39/48/57-bit addresses; bits 63:VA_BITS must equal bit
//! VA_BITS−1, otherwise a page fault ([`FaultKind::NonCanonical`]). VPN\[i\] =
//! VA\[12+9i+8 : 12+9i\].
//!
//! # PTE (Sv39 Figure "Sv39 page table entry"; Sv48/Sv57 identical)
//!
//! | bits | field |
//! |---|---|
//! | 0 V | valid; 0 → page fault |
//! | 1 R, 2 W, 3 X | RWX = 000 → pointer to the next level; W without R is reserved |
//! | 4 U | user-mode page |
//! | 5 G | global; on a non-leaf entry all mappings below are global |
//! | 6 A, 7 D | accessed, dirty; reserved (must be 0) in non-leaf PTEs |
//! | 9:8 RSW | software |
//! | 53:10 PPN | PPN\[0\] 18:10, PPN\[1\] 27:19, PPN\[2\] 36:28, ... |
//! | 60:54 | reserved → page fault if set |
//! | 62:61 PBMT | Svpbmt: 0 PMA, 1 NC, 2 IO, 3 reserved (page fault); reserved in non-leaf PTEs; reserved if Svpbmt is not implemented |
//! | 63 N | Svnapot: NAPOT translation contiguity; reserved in non-leaf PTEs or without Svnapot |
//!
//! Walk (section "Virtual Address Translation Process"): steps 2–4 follow pointers; a
//! pointer at level 0 is a page fault (reported as `Reserved(0)`). Step 6: a superpage
//! leaf whose PPN\[i−1:0\] is not zero is a misaligned superpage → page fault
//! ([`FaultKind::Misaligned`]). Step 7: A = 0 (or D = 0 on a store) raises a page fault
//! when hardware does not update A/D (Svade; [`FaultKind::AccessFlag`] for A, the store
//! case is [`RefTranslation::store_needs_dirty`]); with Svadu they are set instead.
//! Svnapot: a level-0 leaf with N = 1 and PPN\[3:0\] = 1000 maps a 64KiB NAPOT page; other
//! N = 1 encodings are reserved.
//!
//! # Permissions (section "Memory Privilege in mstatus Register", SUM/MXR)
//!
//! U-mode may access only U = 1 pages; S-mode may load/store U = 1 pages only with
//! SUM = 1 and never executes them. Loads need R (or X with MXR = 1), stores need W,
//! fetches need X. Assumed here (configurable): SUM = 0, MXR = 0.
//!
//! # Memory type (Svpbmt)
//!
//! PBMT 0 = the PMA's type (assumed main memory: Normal), 1 NC = non-cacheable idempotent
//! (WriteCombine), 2 IO = non-cacheable non-idempotent strongly-ordered (Device).

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::{bit, bits, field, read_le64, sign_extended, Fault, FaultKind, MemType, Perms};
use crate::refwalk::{RefTranslation, WalkResult};

/// satp.MODE = Bare.
pub const SATP_BARE: u64 = 0;
/// satp.MODE = Sv39.
pub const SATP_SV39: u64 = 8;
/// satp.MODE = Sv48.
pub const SATP_SV48: u64 = 9;
/// satp.MODE = Sv57.
pub const SATP_SV57: u64 = 10;

/// The hart state that affects supervisor address translation.
#[derive(Clone, Copy, Debug)]
pub struct RiscvConfig {
    /// satp.
    pub satp: u64,
    /// mstatus/sstatus.SUM.
    pub sum: bool,
    /// mstatus/sstatus.MXR.
    pub mxr: bool,
    /// Svpbmt implemented and enabled (menvcfg.PBMTE).
    pub svpbmt: bool,
    /// Svnapot implemented.
    pub svnapot: bool,
    /// Svadu: hardware updates A/D (menvcfg.ADUE); otherwise Svade (page faults).
    pub hardware_ad: bool,
}

impl RiscvConfig {
    /// satp = `mode` with the root table at `root`, SUM = MXR = 0, Svpbmt and Svnapot on,
    /// Svade.
    pub fn linux(mode: u64, root: u64) -> Self {
        Self {
            satp: mode << 60 | (root >> 12) & field(43, 0),
            sum: false,
            mxr: false,
            svpbmt: true,
            svnapot: true,
            hardware_ad: false,
        }
    }
}

/// Translate `va` with satp's mode.
pub fn walk(mem: &impl PhysMem, cfg: &RiscvConfig, va: u64) -> WalkResult {
    let levels: usize = match cfg.satp >> 60 {
        SATP_BARE => return Ok(bare(va)),
        SATP_SV39 => 3,
        SATP_SV48 => 4,
        SATP_SV57 => 5,
        _ => return Err(Fault::new(0, FaultKind::BadConfig)),
    };
    let va_bits = 12 + 9 * levels as u32;
    if !sign_extended(va, va_bits - 1) {
        return Err(Fault::new(levels - 1, FaultKind::NonCanonical));
    }
    let mut rsvd = field(60, 54);
    if !cfg.svpbmt {
        rsvd |= field(62, 61);
    }
    if !cfg.svnapot {
        rsvd |= 1 << 63;
    }
    // Reserved in non-leaf PTEs: D, A, U, PBMT, N.
    let nonleaf_rsvd = 1 << 7 | 1 << 6 | 1 << 4 | field(63, 61);
    let mut a = (cfg.satp & field(43, 0)) << 12;
    let mut global = false;
    for i in (0..levels).rev() {
        let shift = 12 + 9 * i as u32;
        let pte = read_le64(mem, a + bits(va, shift + 8, shift) * 8);
        if !bit(pte, 0) {
            return Err(Fault::new(i, FaultKind::NotPresent));
        }
        let (r, w, x) = (bit(pte, 1), bit(pte, 2), bit(pte, 3));
        if w && !r {
            return Err(Fault::new(i, FaultKind::Reserved(pte & 0b1110)));
        }
        if pte & rsvd != 0 {
            return Err(Fault::new(i, FaultKind::Reserved(pte & rsvd)));
        }
        global |= bit(pte, 5);
        let ppn = bits(pte, 53, 10);
        if !(r || x) {
            if pte & nonleaf_rsvd != 0 {
                return Err(Fault::new(i, FaultKind::Reserved(pte & nonleaf_rsvd)));
            }
            if i == 0 {
                return Err(Fault::new(0, FaultKind::Reserved(0)));
            }
            a = ppn << 12;
            continue;
        }
        let pbmt = bits(pte, 62, 61);
        if pbmt == 3 {
            return Err(Fault::new(i, FaultKind::Reserved(pte & field(62, 61))));
        }
        if i > 0 && ppn & ((1 << (9 * i)) - 1) != 0 {
            return Err(Fault::new(i, FaultKind::Misaligned));
        }
        let mut size = 1u64 << shift;
        if bit(pte, 63) {
            if i != 0 || ppn & 0xf != 0b1000 {
                return Err(Fault::new(i, FaultKind::Reserved(1 << 63)));
            }
            size = 64 << 10;
        }
        if !bit(pte, 6) && !cfg.hardware_ad {
            return Err(Fault::new(i, FaultKind::AccessFlag));
        }
        let u = bit(pte, 4);
        let load = r || (cfg.mxr && x);
        let perms = Perms {
            kernel_read: load && (!u || cfg.sum),
            kernel_write: w && (!u || cfg.sum),
            kernel_exec: x && !u,
            user_read: u && load,
            user_write: u && w,
            user_exec: u && x,
        };
        let memtype = match pbmt {
            0 => MemType::Normal,
            1 => MemType::WriteCombine,
            _ => MemType::Device,
        };
        return Ok(RefTranslation {
            pa: ((ppn << 12) & !(size - 1)) | (va & (size - 1)),
            page_size: size,
            level: i,
            readable: r,
            writable: w,
            executable: x,
            user: u,
            global,
            memtype,
            raw_leaf: pte,
            perms,
            store_needs_dirty: w && !bit(pte, 7) && !cfg.hardware_ad,
        });
    }
    unreachable!("level 0 ends the walk")
}

/// satp.MODE = Bare: no translation or protection.
fn bare(va: u64) -> RefTranslation {
    let all = Perms {
        kernel_read: true,
        kernel_write: true,
        kernel_exec: true,
        user_read: true,
        user_write: true,
        user_exec: true,
    };
    RefTranslation {
        pa: va,
        page_size: 4096,
        level: 0,
        readable: true,
        writable: true,
        executable: true,
        user: true,
        global: true,
        memtype: MemType::Normal,
        raw_leaf: 0,
        perms: all,
        store_needs_dirty: false,
    }
}

/// `riscv64-sv39/48/57`: satp.MODE = 8/9/10, satp.PPN = root >> 12, SUM=0, MXR=0, Svpbmt and
/// Svnapot implemented, Svade (A/D not updated by hardware).
impl<const N: usize> crate::refwalk::RefWalk for crate::arch::riscv64::RiscvPaging<N> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        let mode = match N {
            3 => SATP_SV39,
            4 => SATP_SV48,
            5 => SATP_SV57,
            _ => return Err(Fault::new(0, FaultKind::BadConfig)),
        };
        walk(mem, &RiscvConfig::linux(mode, root), va)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    const V: u64 = 1;
    const R: u64 = 2;
    const W: u64 = 4;
    const X: u64 = 8;
    const U: u64 = 16;
    const G: u64 = 32;
    const A: u64 = 64;
    const D: u64 = 128;
    fn ptr(pa: u64) -> u64 {
        (pa >> 12) << 10 | V
    }
    fn leaf(pa: u64, flags: u64) -> u64 {
        (pa >> 12) << 10 | V | flags
    }
    fn vpn(va: u64, i: u32) -> u64 {
        (va >> (12 + 9 * i)) & 511
    }

    fn sv39(mem: &Mem, va: u64, pte: u64) {
        mem.le64(0x1000 + vpn(va, 2) * 8, ptr(0x2000));
        mem.le64(0x2000 + vpn(va, 1) * 8, ptr(0x3000));
        mem.le64(0x3000 + vpn(va, 0) * 8, pte);
    }

    #[test]
    fn sv39_page() {
        let mem = Mem::new();
        let cfg = RiscvConfig::linux(SATP_SV39, 0x1000);
        let va = 0x12_3456_7abc;
        sv39(&mem, va, leaf(0x8765_4000, R | W | A | D | G));
        let t = walk(&mem, &cfg, va).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x8765_4abc, 4096, 0));
        assert!(t.readable && t.writable && !t.executable && !t.user && t.global);
        assert_eq!(t.memtype, MemType::Normal);
        assert!(t.check(Access { write: true, ..Access::default() }).is_ok());
        assert!(t.check(Access { exec: true, ..Access::default() }).is_err());
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        // Kernel addresses are the negative half.
        let kva = 0xffff_ffc0_0020_0000u64;
        sv39(&mem, kva, leaf(0x9000, R | X | A));
        assert_eq!(walk(&mem, &cfg, kva).unwrap().pa, 0x9000);
        assert_eq!(walk(&mem, &cfg, va + 0x1000), Err(Fault::new(0, FaultKind::NotPresent)));
        assert_eq!(walk(&mem, &cfg, 0x40_0000_0000), Err(Fault::new(2, FaultKind::NonCanonical)));
        assert_eq!(walk(&mem, &cfg, 0xffff_ff00_0000_0000), Err(Fault::new(2, FaultKind::NonCanonical)));
    }

    #[test]
    fn superpages_and_misalignment() {
        let mem = Mem::new();
        let cfg = RiscvConfig::linux(SATP_SV39, 0x1000);
        // 1GiB gigapage at level 2.
        mem.le64(0x1000 + 8 * 3, leaf(0xc000_0000, R | W | X | A | D | U));
        let t = walk(&mem, &cfg, 0xc123_4567).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0xc123_4567, 1 << 30, 2));
        assert!(t.user && t.executable);
        // SUM=0: the kernel cannot touch it; nobody but the user executes it.
        assert!(!t.perms.kernel_read && !t.perms.kernel_write && !t.perms.kernel_exec);
        assert!(t.check(Access { user: true, write: true, exec: false }).is_ok());
        let sum = RiscvConfig { sum: true, ..cfg };
        let t = walk(&mem, &sum, 0xc123_4567).unwrap();
        assert!(t.perms.kernel_read && !t.perms.kernel_exec);
        // 2MiB megapage at level 1.
        mem.le64(0x1000, ptr(0x2000));
        mem.le64(0x2000 + 8, leaf(0x4020_0000, R | A));
        let t = walk(&mem, &cfg, 0x0030_0001).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x4030_0001, 2 << 20, 1));
        // Misaligned megapage (PPN[0] != 0) and gigapage (PPN[1] != 0).
        mem.le64(0x2000 + 16, leaf(0x4020_1000, R | A));
        assert_eq!(walk(&mem, &cfg, 0x0040_0000), Err(Fault::new(1, FaultKind::Misaligned)));
        mem.le64(0x1000 + 8, leaf(0x4020_0000, R | A));
        assert_eq!(walk(&mem, &cfg, 0x4000_0000), Err(Fault::new(2, FaultKind::Misaligned)));
    }

    #[test]
    fn reserved_encodings() {
        let mem = Mem::new();
        let cfg = RiscvConfig::linux(SATP_SV39, 0x1000);
        let va = 0x5000;
        sv39(&mem, va, leaf(0x7000, W | A | D)); // W without R
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(W))));
        sv39(&mem, va, leaf(0x7000, R | A) | 1 << 54);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(1 << 54))));
        sv39(&mem, va, leaf(0x7000, R | A) | 3 << 61); // PBMT = 3
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(3 << 61))));
        let nopbmt = RiscvConfig { svpbmt: false, ..cfg };
        sv39(&mem, va, leaf(0x7000, R | A) | 1 << 61);
        assert_eq!(walk(&mem, &nopbmt, va), Err(Fault::new(0, FaultKind::Reserved(1 << 61))));
        assert_eq!(walk(&mem, &cfg, va).unwrap().memtype, MemType::WriteCombine);
        sv39(&mem, va, leaf(0x7000, R | A) | 2 << 61);
        assert_eq!(walk(&mem, &cfg, va).unwrap().memtype, MemType::Device);
        // A, D or U in a non-leaf PTE.
        sv39(&mem, va, leaf(0x7000, R | A));
        mem.le64(0x2000, ptr(0x3000) | A);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(1, FaultKind::Reserved(A))));
        mem.le64(0x2000, ptr(0x3000) | U);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(1, FaultKind::Reserved(U))));
        // A pointer at level 0.
        mem.le64(0x2000, ptr(0x3000));
        mem.le64(0x3000 + 5 * 8, ptr(0x4000));
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(0))));
        // G on a pointer makes everything below global.
        mem.le64(0x1000, ptr(0x2000) | G);
        mem.le64(0x3000 + 5 * 8, leaf(0x7000, R | A));
        assert!(walk(&mem, &cfg, va).unwrap().global);
        assert_eq!(walk(&mem, &RiscvConfig { satp: 5 << 60, ..cfg }, va).unwrap_err().kind, FaultKind::BadConfig);
    }

    #[test]
    fn accessed_dirty() {
        let mem = Mem::new();
        let cfg = RiscvConfig::linux(SATP_SV39, 0x1000);
        let va = 0x6000;
        sv39(&mem, va, leaf(0x7000, R | W));
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::AccessFlag)));
        let adu = RiscvConfig { hardware_ad: true, ..cfg };
        assert!(walk(&mem, &adu, va).unwrap().check(Access { write: true, ..Access::default() }).is_ok());
        sv39(&mem, va, leaf(0x7000, R | W | A));
        let t = walk(&mem, &cfg, va).unwrap();
        assert!(t.check(Access::default()).is_ok());
        let e = t.check(Access { write: true, ..Access::default() }).unwrap_err();
        assert_eq!(e.kind, FaultKind::Dirty);
    }

    #[test]
    fn napot_64k() {
        let mem = Mem::new();
        let cfg = RiscvConfig::linux(SATP_SV39, 0x1000);
        let va = 0x0012_3000;
        // PPN[3:0] = 1000 encodes the 64KiB size; the base is 0x80000 (64KiB aligned).
        sv39(&mem, va, leaf(0x8_8000, R | A) | 1 << 63);
        let t = walk(&mem, &cfg, va + 0x456).unwrap();
        assert_eq!((t.pa, t.page_size), (0x8_3456, 65536));
        sv39(&mem, va, leaf(0x8_4000, R | A) | 1 << 63);
        assert_eq!(walk(&mem, &cfg, va), Err(Fault::new(0, FaultKind::Reserved(1 << 63))));
    }

    #[test]
    fn sv48_sv57() {
        let mem = Mem::new();
        let va = 0x7fff_1234_5000u64; // 47-bit positive: canonical for Sv48, not Sv39
        assert_eq!(walk(&mem, &RiscvConfig::linux(SATP_SV39, 0x1000), va).unwrap_err().kind, FaultKind::NonCanonical);
        let c48 = RiscvConfig::linux(SATP_SV48, 0x1000);
        mem.le64(0x1000 + vpn(va, 3) * 8, ptr(0x2000));
        mem.le64(0x2000 + vpn(va, 2) * 8, leaf(0x80_0000_0000, R | W | A | D)); // a 1GiB page
        let t = walk(&mem, &c48, va).unwrap();
        assert_eq!((t.page_size, t.level), (1 << 30, 2));
        assert_eq!(t.pa, 0x80_0000_0000 | (va & 0x3fff_ffff));
        // A 512GiB terapage at level 3 in Sv48.
        mem.le64(0x1000 + 8, leaf(0x100_0000_0000, R | A));
        let t = walk(&mem, &c48, 0x80_0000_1234).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x100_0000_1234, 1 << 39, 3));
        // Sv57: five levels; 0x0100_0000_0000_0000 is canonical for it only.
        let c57 = RiscvConfig::linux(SATP_SV57, 0x9000);
        let va = 0x00ff_0000_0000_0000u64;
        assert_eq!(walk(&mem, &c57, va), Err(Fault::new(4, FaultKind::NotPresent)));
        mem.le64(0x9000 + vpn(va, 4) * 8, ptr(0xa000));
        mem.le64(0xa000 + vpn(va, 3) * 8, ptr(0xb000));
        mem.le64(0xb000 + vpn(va, 2) * 8, ptr(0xc000));
        mem.le64(0xc000 + vpn(va, 1) * 8, ptr(0xd000));
        mem.le64(0xd000 + vpn(va, 0) * 8, leaf(0xe000, R | X | A | U));
        let t = walk(&mem, &c57, va | 0x10).unwrap();
        assert_eq!((t.pa, t.level), (0xe010, 0));
        assert!(t.check(Access { user: true, exec: true, write: false }).is_ok());
        assert_eq!(walk(&mem, &c57, 0x0100_0000_0000_0000).unwrap_err().kind, FaultKind::NonCanonical);
    }
}
