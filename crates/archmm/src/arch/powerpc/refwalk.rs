//! Power reference walker: Power ISA v3.0B Book III, section 5.7.10 "Radix Tree
//! Translation" (process-scoped translation of a host, i.e. LPCR\[HR\] = 1, no nested
//! partition-scoped step).
//!
//! IBM numbers bits from the left (bit 0 = MSB); "bit n" below is IBM numbering, with the
//! LSB-0 mask in parentheses. Radix tables are big-endian in storage regardless of
//! MSR\[LE\]; entries are read as raw 64-bit words and byte-swapped.
//!
//! # Tree root (5.7.6 process table, 5.7.10.1)
//!
//! A process-table entry's doubleword 0 describes the tree: RTS1 bits 1:2 (`61..62`),
//! RPDB bits 4:55 (`8..59`, root page directory base), RTS2 bits 56:58 (`5..7`), RPDS
//! bits 59:63 (`0..4`, log2 of the number of root entries). The radix tree size is
//! 2^(RTS+31) bytes with RTS = RTS1‖RTS2. [`RadixConfig`] holds those three values;
//! [`walk_process_table`] reads them from a process table.
//!
//! # Effective address
//!
//! EA bits 0:1 are the quadrant: 0 (user, PIDR's entry) and 3 (kernel, PID 0) translate;
//! quadrants 1 and 2 are only for hypervisor accesses on behalf of a guest and are
//! refused here. EA bits 2:(63−N) with N = RTS+31 must be zero, else a segment interrupt
//! (reported as [`FaultKind::NonCanonical`]). The walk consumes the next RPDS, then each
//! directory's NLS, bits below the tree size.
//!
//! # Page directory entry (Figure "Radix Tree Page Directory Entry")
//!
//! bit 0 V (`63`) valid; bit 1 L (`62`) = 0; NLB bits 4:55 (`8..59`, next level base,
//! aligned to the table size); NLS bits 59:63 (`0..4`, log2 entries; values below 5 are
//! reserved, as is an NLS that would leave fewer than 12 offset bits → `Reserved(NLS)`).
//!
//! # Page table entry (Figure "Radix Tree Page Table Entry")
//!
//! bit 0 V (`63`), bit 1 L (`62`) = 1, SW bits 2, 52:54; RPN bits 7:51 (`12..56`);
//! R bit 55 (`8`, reference), C bit 56 (`7`, change); ATT bits 58:59 (`4..5`: 0 normal
//! cacheable, 1 SAO, 2 non-idempotent I/O (guarded, cache-inhibited), 3 tolerant I/O
//! (cache-inhibited, not guarded)); EAA bits 60:63 (`0..3`: 60 Privilege (`8`), 61 Read
//! (`4`), 62 Read/Write (`2`), 63 Execute (`1`)).
//!
//! A leaf may appear at any level; its page size is 2^(bits left below it). The sizes
//! Power ISA 3.0 supports are 4KB, 64KB, 2MB and 1GB; a leaf of any other size is
//! reported as `Reserved(1 << 62)`. RPN bits below the page size should be zero; the
//! reference walker reports [`FaultKind::Misaligned`] if they are not. R and C are
//! assumed to be maintained by hardware (no faults).
//!
//! # Permissions (5.7.12 storage protection)
//!
//! Loads need Read or Read/Write, stores Read/Write, fetches Execute; fetches from guarded
//! (ATT = 2) storage are refused. Problem state may access only pages with Privilege = 0.
//! Privileged accesses to non-privileged pages are further masked by the AMR/IAMR, both
//! assumed 0 (no Linux KUAP/KUEP). Radix has no global bit (TLB entries are tagged with
//! the PID), so `global` is false. Memory type: ATT 0 → Normal, 3 → WriteCombine (Linux's
//! `pgprot_noncached_wc`), 2 → Device, 1 → `Other(1)`.

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::WalkResult;
use crate::refwalk::{bits, field, read_be64, Fault, FaultKind, MemType, Perms, RefTranslation};

const V: u64 = 1 << 63;
const L: u64 = 1 << 62;

/// A radix tree root.
#[derive(Clone, Copy, Debug)]
pub struct RadixConfig {
    /// Radix tree size: the tree maps 2^(rts + 31) bytes.
    pub rts: u32,
    /// Root page directory base (physical address).
    pub rpdb: u64,
    /// Root page directory size: 2^rpds entries.
    pub rpds: u32,
}

impl RadixConfig {
    /// Decode a process-table (or partition-table) doubleword 0.
    pub fn from_entry(dw0: u64) -> Self {
        let rts = (bits(dw0, 62, 61) << 3 | bits(dw0, 7, 5)) as u32;
        Self { rts, rpdb: dw0 & field(59, 8), rpds: bits(dw0, 4, 0) as u32 }
    }
    /// Encode as a process-table doubleword 0.
    pub fn to_entry(&self) -> u64 {
        let rts = self.rts as u64;
        (rts >> 3) << 61 | (self.rpdb & field(59, 8)) | (rts & 7) << 5 | self.rpds as u64
    }
    /// Linux's radix setup (`radix__init_pgtable`): a 52-bit tree (RTS = 21) with a
    /// 2^13-entry root (`RADIX_PGD_INDEX_SIZE`), for both the 4K and the 64K configuration.
    pub fn linux(root: u64) -> Self {
        Self { rts: 52 - 31, rpdb: root, rpds: 13 }
    }
}

/// Level of an entry that maps 2^`rem` bytes: 4K/64K pages 0, 2M 1, 1G 2, 512G 3, ...
fn level_of(rem: u32) -> usize {
    if rem <= 16 {
        0
    } else {
        (rem - 12).div_ceil(9) as usize
    }
}

/// Translate `ea` through the process-table entry of `pid` (16-byte entries at `prtb`).
pub fn walk_process_table(mem: &impl PhysMem, prtb: u64, pid: u64, ea: u64) -> WalkResult {
    let dw0 = read_be64(mem, prtb + pid * 16);
    walk(mem, &RadixConfig::from_entry(dw0), ea)
}

/// Translate `ea` with the radix tree `cfg`.
pub fn walk(mem: &impl PhysMem, cfg: &RadixConfig, ea: u64) -> WalkResult {
    let tree_bits = cfg.rts + 31;
    let quadrant = ea >> 62;
    let root_level = level_of(tree_bits.saturating_sub(cfg.rpds));
    if tree_bits > 62 {
        return Err(Fault::new(root_level, FaultKind::BadConfig));
    }
    if quadrant == 1 || quadrant == 2 || bits(ea, 61, tree_bits) != 0 {
        return Err(Fault::new(root_level, FaultKind::NonCanonical));
    }
    let mut rem = tree_bits;
    let mut base = cfg.rpdb;
    let mut nls = cfg.rpds;
    loop {
        if nls < 5 || rem < nls + 12 {
            return Err(Fault::new(level_of(rem), FaultKind::Reserved(nls as u64)));
        }
        rem -= nls;
        let level = level_of(rem);
        let e = read_be64(mem, base + bits(ea, rem + nls - 1, rem) * 8);
        if e & V == 0 {
            return Err(Fault::new(level, FaultKind::NotPresent));
        }
        if e & L == 0 {
            base = e & field(59, 8);
            nls = bits(e, 4, 0) as u32;
            continue;
        }
        if !matches!(rem, 12 | 16 | 21 | 30) {
            return Err(Fault::new(level, FaultKind::Reserved(L)));
        }
        let size = 1u64 << rem;
        let rpn = e & field(56, 12);
        if rpn & (size - 1) != 0 {
            return Err(Fault::new(level, FaultKind::Misaligned));
        }
        let privileged = e & 8 != 0;
        let read = e & 0b110 != 0;
        let write = e & 0b010 != 0;
        let att = bits(e, 5, 4);
        let exec = e & 1 != 0 && att != 2;
        let user = !privileged;
        let perms = Perms {
            kernel_read: read,
            kernel_write: write,
            kernel_exec: exec,
            user_read: user && read,
            user_write: user && write,
            user_exec: user && exec,
        };
        let memtype = match att {
            0 => MemType::Normal,
            2 => MemType::Device,
            3 => MemType::WriteCombine,
            a => MemType::Other(a),
        };
        return Ok(RefTranslation {
            pa: rpn | (ea & (size - 1)),
            page_size: size,
            level,
            readable: read,
            writable: write,
            executable: exec,
            user,
            global: false,
            memtype,
            raw_leaf: e,
            perms,
            store_needs_dirty: false,
        });
    }
}

/// `powerpc64-radix-4k/64k`: the process-table entry of the current PID (PIDR) with RPDB =
/// root, RTS = 52-bit, RPDS = 13 (Linux's `RADIX_PGD_INDEX_SIZE`); so quadrant 0 translates
/// through it and quadrants 1-3 are refused ([`FaultKind::NonCanonical`]); AMR = IAMR = 0.
impl<const PAGE_SHIFT: u32> crate::refwalk::RefWalk for crate::arch::powerpc::RadixPaging<PAGE_SHIFT> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        // The root is PIDR's tree: quadrant 0. Quadrant 3 would use PID 0's entry.
        if va >> 62 != 0 {
            return Err(Fault::new(3, FaultKind::NonCanonical));
        }
        walk(mem, &RadixConfig::linux(root), va)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refwalk::testmem::Mem;
    use crate::refwalk::Access;

    const PRIV: u64 = 8;
    const R: u64 = 4;
    const RW: u64 = 2;
    const X: u64 = 1;
    const REF: u64 = 1 << 8;
    const CHG: u64 = 1 << 7;
    fn dir(base: u64, nls: u64) -> u64 {
        V | base | nls
    }

    /// Linux's 4K layout: root 13 bits, PUD 9, PMD 9, PTE 9 (52 bits).
    fn four_k(mem: &Mem, ea: u64, pte: u64) {
        mem.be64(0x10_0000 + bits(ea, 51, 39) * 8, dir(0x20_0000, 9));
        mem.be64(0x20_0000 + bits(ea, 38, 30) * 8, dir(0x21_0000, 9));
        mem.be64(0x21_0000 + bits(ea, 29, 21) * 8, dir(0x22_0000, 9));
        mem.be64(0x22_0000 + bits(ea, 20, 12) * 8, pte);
    }

    #[test]
    fn four_k_tree() {
        let mem = Mem::new();
        let cfg = RadixConfig::linux(0x10_0000);
        let ea = 0xc000_0012_3456_7abcu64;
        four_k(&mem, ea, V | L | 0x1_2345_6000 | REF | CHG | PRIV | R | RW);
        let t = walk(&mem, &cfg, ea).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x1_2345_6abc, 4096, 0));
        assert!(t.readable && t.writable && !t.executable && !t.user && !t.global);
        assert_eq!(t.memtype, MemType::Normal);
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        // The same tree serves quadrant 0 here.
        let uea = ea & !(3 << 62);
        four_k(&mem, uea, V | L | 0x7000 | R | X | 3 << 4);
        let t = walk(&mem, &cfg, uea).unwrap();
        assert!(t.user && t.executable && !t.writable);
        assert_eq!(t.memtype, MemType::WriteCombine);
        assert!(t.check(Access { user: true, exec: true, write: false }).is_ok());
        // Guarded (non-idempotent I/O) storage is never executable.
        four_k(&mem, uea, V | L | 0x7000 | R | X | 2 << 4);
        let t = walk(&mem, &cfg, uea).unwrap();
        assert!(!t.executable && t.memtype == MemType::Device);
        // Invalid PTE, segment interrupt, quadrant 1.
        four_k(&mem, ea, L | 0x1_2345_6000);
        assert_eq!(walk(&mem, &cfg, ea), Err(Fault::new(0, FaultKind::NotPresent)));
        assert_eq!(walk(&mem, &cfg, ea | 1 << 52).unwrap_err().kind, FaultKind::NonCanonical);
        assert_eq!(walk(&mem, &cfg, 0x4000_0000_0000_0000).unwrap_err().kind, FaultKind::NonCanonical);
        assert_eq!(walk(&mem, &cfg, 0xc008_0000_0000_0000), Err(Fault::new(3, FaultKind::NotPresent)));
    }

    #[test]
    fn huge_leaves() {
        let mem = Mem::new();
        let cfg = RadixConfig::linux(0x10_0000);
        let ea = 0xc000_0000_4060_1234u64;
        four_k(&mem, ea, 0);
        // 2MB leaf in the PMD.
        mem.be64(0x21_0000 + bits(ea, 29, 21) * 8, V | L | 0x8060_0000 | PRIV | RW | X);
        let t = walk(&mem, &cfg, ea).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x8060_1234, 2 << 20, 1));
        assert!(t.writable && t.readable && t.executable);
        // Misaligned RPN.
        mem.be64(0x21_0000 + bits(ea, 29, 21) * 8, V | L | 0x8061_0000 | PRIV | RW);
        assert_eq!(walk(&mem, &cfg, ea), Err(Fault::new(1, FaultKind::Misaligned)));
        // 1GB leaf in the PUD.
        mem.be64(0x20_0000 + bits(ea, 38, 30) * 8, V | L | 0x40_0000_0000 | PRIV | R);
        let t = walk(&mem, &cfg, ea).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x40_0060_1234, 1 << 30, 2));
        // A leaf in the root (512GB) is not a supported size.
        mem.be64(0x10_0000 + bits(ea, 51, 39) * 8, V | L | PRIV | R);
        assert_eq!(walk(&mem, &cfg, ea), Err(Fault::new(3, FaultKind::Reserved(L))));
        // NLS below 5 is reserved.
        mem.be64(0x10_0000 + bits(ea, 51, 39) * 8, dir(0x20_0000, 4));
        assert_eq!(walk(&mem, &cfg, ea), Err(Fault::new(3, FaultKind::Reserved(4))));
    }

    #[test]
    fn sixty_four_k_and_process_table() {
        let mem = Mem::new();
        // Linux's 64K layout: root 13, PUD 9, PMD 9, PTE 5 (64KB pages).
        let ea = 0xc000_0001_2345_6789u64;
        mem.be64(0x10_0000 + bits(ea, 51, 39) * 8, dir(0x20_0000, 9));
        mem.be64(0x20_0000 + bits(ea, 38, 30) * 8, dir(0x21_0000, 9));
        mem.be64(0x21_0000 + bits(ea, 29, 21) * 8, dir(0x22_0000, 5));
        mem.be64(0x22_0000 + bits(ea, 20, 16) * 8, V | L | 0x9_0000 | PRIV | R | RW);
        // Process table at 0x30_0000, PID 0's entry describes the tree.
        let cfg = RadixConfig::linux(0x10_0000);
        let dw0 = cfg.to_entry();
        assert_eq!(dw0 >> 61, 0b10); // RTS1
        assert_eq!(bits(dw0, 7, 5), 0b101); // RTS2
        mem.be64(0x30_0000, dw0);
        let t = walk_process_table(&mem, 0x30_0000, 0, ea).unwrap();
        assert_eq!((t.pa, t.page_size, t.level), (0x9_6789, 65536, 0));
        // PID 1 has an empty entry (a 2^31-byte tree): the address is outside it.
        assert_eq!(walk_process_table(&mem, 0x30_0000, 1, ea).unwrap_err().kind, FaultKind::NonCanonical);
        assert_eq!(walk_process_table(&mem, 0x30_0000, 1, 0x1000).unwrap_err().kind, FaultKind::Reserved(0));
    }
}
