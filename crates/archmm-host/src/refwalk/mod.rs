//! Reference MMU walkers: a second, independent opinion on page-table bits.
//!
//! Each submodule walks one architecture family's translation tables the way its MMU (or,
//! for LoongArch, its TLB-refill handler) does: it takes the architecture's own control
//! registers (CR3/CR4/EFER, TTBRx/TCR/MAIR, satp, PWCL/PWCH/PGD, the ASCE, a radix tree
//! root), reads raw table words from emulated physical memory through
//! [`archmm::physmem::PhysMem`] and decodes them from the architecture manuals:
//!
//! | module | manual |
//! |---|---|
//! | [`x86`] | Intel SDM vol. 3A, chapter 4 "Paging" (4.3 32-bit, 4.4 PAE, 4.5 4/5-level, 4.6 access rights, 4.9 PAT/PCD/PWT, 11.12 PAT) |
//! | [`arm64`] | Arm ARM (DDI 0487) D8 "The AArch64 Virtual Memory System Architecture" (VMSAv8-64) |
//! | [`arm`] | Arm ARM v7-A/R (DDI 0406C) B3.5 short-descriptor, B3.6 long-descriptor (LPAE), B3.7 access permissions, B3.8 memory attributes |
//! | [`riscv`] | RISC-V Privileged ISA, "Supervisor-Level ISA": satp, Sv39/Sv48/Sv57, Svpbmt, Svnapot |
//! | [`loongarch`] | LoongArch Reference Manual vol. 1, ch. 5 (TLB entries, LDDIR/LDPTE, PWCL/PWCH) and Linux's `arch/loongarch/mm/tlbex.S` software layout |
//! | [`s390`] | z/Architecture Principles of Operation (SA22-7832), ch. 3 "Dynamic Address Translation" |
//! | [`powerpc`] | Power ISA v3.0B Book III, 5.7.10 "Radix Tree Translation" |
//!
//! None of this code shares anything with archmm's encoders (`archmm::pgtable`,
//! `archmm::arch`); only the [`PhysMem`] trait and [`PhysAddr`] are used.
//!
//! # Common result types
//!
//! A walk yields a [`RefTranslation`] or a [`Fault`]. Levels are numbered uniformly across
//! architectures as the *distance from the last level*: 0 is the table that maps the
//! smallest pages (x86 PT, arm64 level 3, RISC-V level 0, s390 page table), 1 the table
//! above it (PMD, segment table, ...), and so on up to the root.
//!
//! [`walk_mode`] maps archmm's mode names to hardware configurations; the assumptions it
//! makes (how Linux programs MAIR, PAT, PRRR/NMRR, ...) are documented on it.

use archmm::addr::PhysAddr;
use archmm::physmem::PhysMem;

pub mod arm;
pub mod arm64;
pub mod loongarch;
pub mod powerpc;
pub mod riscv;
pub mod s390;
pub mod x86;

/// Memory type of a translation, reduced to what the differential tests compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal, cacheable (write-back) memory.
    Normal,
    /// Normal, non-cacheable, write-combining / bufferable memory.
    WriteCombine,
    /// Device / strongly-ordered / uncached I/O memory.
    Device,
    /// Anything else; the value is the architecture's raw memory-type encoding (x86 PAT
    /// type, arm64 MAIR attribute byte, arm32 TEX-remap index, ...).
    Other(u64),
}

/// Which privilege levels may do what. "Kernel" is the privileged level (x86 CPL 0,
/// arm EL1/PL1, RISC-V S-mode, LoongArch PLV0, Power MSR\[PR\]=0), "user" the unprivileged
/// one (CPL 3, EL0/PL0, U-mode, PLV3, MSR\[PR\]=1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    /// Privileged loads allowed.
    pub kernel_read: bool,
    /// Privileged stores allowed.
    pub kernel_write: bool,
    /// Privileged instruction fetches allowed.
    pub kernel_exec: bool,
    /// Unprivileged loads allowed.
    pub user_read: bool,
    /// Unprivileged stores allowed.
    pub user_write: bool,
    /// Unprivileged instruction fetches allowed.
    pub user_exec: bool,
}

/// An access whose permission [`RefTranslation::check`] decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// A store (else a load, or a fetch if `exec`).
    pub write: bool,
    /// An instruction fetch.
    pub exec: bool,
    /// From the unprivileged level.
    pub user: bool,
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefTranslation {
    /// Physical (output) address of the translated byte.
    pub pa: u64,
    /// Size of the page or block that maps it.
    pub page_size: u64,
    /// Level of the leaf entry, counted from the last level (0 = smallest pages).
    pub level: usize,
    /// Readable by the privilege that owns the page (user if `user`, else kernel).
    pub readable: bool,
    /// Writable by the privilege that owns the page.
    pub writable: bool,
    /// Executable by the privilege that owns the page.
    pub executable: bool,
    /// Accessible at all from the unprivileged level (load, store or fetch; an arm64
    /// EL0 execute-only page counts).
    pub user: bool,
    /// Global (not tagged with an ASID/PCID), where the architecture has the notion.
    pub global: bool,
    /// Memory type.
    pub memtype: MemType,
    /// The leaf entry as read from memory (already byte-swapped for big-endian tables).
    pub raw_leaf: u64,
    /// The full permission matrix.
    pub perms: Perms,
    /// A store would still fault although `perms` allows it, because the entry's dirty
    /// state must first be set by software (RISC-V Svade with D=0).
    pub store_needs_dirty: bool,
}

impl RefTranslation {
    /// Whether `access` would fault on this translation, as the manual specifies.
    pub fn check(&self, access: Access) -> Result<(), Fault> {
        let p = &self.perms;
        let ok = match (access.user, access.exec, access.write) {
            (false, true, _) => p.kernel_exec,
            (true, true, _) => p.user_exec,
            (false, false, false) => p.kernel_read,
            (false, false, true) => p.kernel_write,
            (true, false, false) => p.user_read,
            (true, false, true) => p.user_write,
        };
        if !ok {
            return Err(Fault { level: self.level, kind: FaultKind::Permission });
        }
        if access.write && !access.exec && self.store_needs_dirty {
            return Err(Fault { level: self.level, kind: FaultKind::Dirty });
        }
        Ok(())
    }
}

/// Why a walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The entry is invalid / not present (x86 P=0, arm descriptor type 0b00, RISC-V V=0,
    /// s390 I=1, Power V=0, LoongArch V=0 or an empty directory entry).
    NotPresent,
    /// Reserved bits or a reserved encoding are set; the value holds the offending bits
    /// (for encodings, the field's value).
    Reserved(u64),
    /// A large page/superpage whose output address is not aligned to its size where the
    /// architecture faults on it (RISC-V), or where the reference walker refuses it.
    Misaligned,
    /// The address lies outside every range the configuration translates (x86 and RISC-V
    /// non-canonical, arm outside TTBR0/TTBR1 or walk disabled by EPDn, s390 ASCE-type
    /// exception or table-length exceeded, Power segment interrupt).
    NonCanonical,
    /// The access flag is clear and hardware does not manage it (arm AF=0 with HA=0,
    /// RISC-V A=0 with Svade).
    AccessFlag,
    /// An output or table address exceeds the configured physical address size (arm64
    /// IPS, arm LPAE 40-bit).
    AddressSize,
    /// arm short-descriptor domain fault (DACR says no access).
    Domain,
    /// The access is not permitted (only from [`RefTranslation::check`]).
    Permission,
    /// A store to a clean page that hardware does not mark dirty (only from
    /// [`RefTranslation::check`]).
    Dirty,
    /// The control registers describe a configuration the architecture rejects (e.g. an
    /// arm64 TnSZ out of range, satp MODE reserved).
    BadConfig,
}

/// A translation fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Level of the entry that faulted (counted from the last level), or of the root for
    /// faults decided before any table is read.
    pub level: usize,
    /// What went wrong.
    pub kind: FaultKind,
}

impl Fault {
    pub(crate) fn new(level: usize, kind: FaultKind) -> Self {
        Self { level, kind }
    }
}

/// Result of a walk.
pub type WalkResult = Result<RefTranslation, Fault>;

/// Bits `hi..=lo` of `v` (LSB-0 numbering), shifted down.
#[inline]
pub(crate) fn bits(v: u64, hi: u32, lo: u32) -> u64 {
    (v >> lo) & mask(hi - lo)
}

/// `k + 1` low one bits, so `mask(hi - lo)` covers the field `hi..=lo`.
#[inline]
pub(crate) fn mask(k: u32) -> u64 {
    if k >= 63 {
        u64::MAX
    } else {
        (1u64 << (k + 1)) - 1
    }
}

/// Mask with ones in bits `hi..=lo`.
#[inline]
pub(crate) fn field(hi: u32, lo: u32) -> u64 {
    mask(hi - lo) << lo
}

/// Bit `n` of `v`.
#[inline]
pub(crate) fn bit(v: u64, n: u32) -> bool {
    (v >> n) & 1 != 0
}

/// `true` if bits 63..=`n` of `va` are all copies of bit `n` (canonical sign extension).
#[inline]
pub(crate) fn sign_extended(va: u64, n: u32) -> bool {
    let top = (va as i64) >> n;
    top == 0 || top == -1
}

/// Read a little-endian 64-bit table entry.
#[inline]
pub(crate) fn read_le64(mem: &impl PhysMem, pa: u64) -> u64 {
    mem.read_u64(PhysAddr(pa))
}

/// Read a little-endian 32-bit table entry.
#[inline]
pub(crate) fn read_le32(mem: &impl PhysMem, pa: u64) -> u32 {
    mem.read_u32(PhysAddr(pa))
}

/// Read a big-endian 64-bit table entry (s390, Power radix).
#[inline]
pub(crate) fn read_be64(mem: &impl PhysMem, pa: u64) -> u64 {
    mem.read_u64(PhysAddr(pa)).swap_bytes()
}

/// Decode an Arm "Normal/Device" attribute byte (MAIR_ELx / MAIR0/1 field, Arm ARM register
/// descriptions of MAIR_EL1 and of the v7 MAIR0/MAIR1) into a [`MemType`].
///
/// `0b0000_dd00` is Device (nGnRnE/nGnRE/nGRE/GRE); otherwise the high nibble is the Outer
/// and the low nibble the Inner attribute: `0b0100` Non-cacheable, `0b00RW`/`0b10RW`
/// (RW≠0) write-through, `0b01RW`/`0b11RW` (RW≠0) write-back. Both halves write-back →
/// [`MemType::Normal`]; both non-cacheable → [`MemType::WriteCombine`]; anything else →
/// [`MemType::Other`] with the byte.
pub(crate) fn arm_attr_memtype(attr: u8) -> MemType {
    let (outer, inner) = (attr >> 4, attr & 0xf);
    if outer == 0 {
        return if inner & 0b0011 == 0 { MemType::Device } else { MemType::Other(attr as u64) };
    }
    let wb = |n: u8| n & 0b0100 != 0 && n & 0b0011 != 0;
    if wb(outer) && wb(inner) {
        MemType::Normal
    } else if outer == 0b0100 && inner == 0b0100 {
        MemType::WriteCombine
    } else {
        MemType::Other(attr as u64)
    }
}

/// Walk `va` in the tables rooted at physical address `root`, for archmm's paging mode
/// `mode_name`, with the hardware configuration Linux programs for that mode.
///
/// The root is installed where the mode's root lives:
///
/// | mode | configuration |
/// |---|---|
/// | `x86_64-4level` | CR3 = root, CR4.PAE=1, CR4.LA57=0, EFER.LME=1, EFER.NXE=1, MAXPHYADDR 52, Linux's PAT |
/// | `x86_64-5level` | as above with CR4.LA57=1 |
/// | `i386-2level` | CR3 = root, CR4.PSE=1, CR4.PAE=0 (no NX in this mode), MAXPHYADDR 40 (PSE-36), Linux's PAT |
/// | `i386-pae` | CR3 = root (the 32-byte PDPT), CR4.PAE=1, EFER.NXE=1, MAXPHYADDR 52, Linux's PAT |
/// | `arm64-<g>-<n>` | TTBR1_EL1 = root, TG1 = granule `g`, T1SZ = 64-`n`, EPD0=1 (the lower half faults), IPS = 52 bits for 64K granules (FEAT_LPA) and 48 bits for 4K/16K, DS=0, HA=HD=0, TBI=0, HPD=0, Linux's MAIR |
/// | `arm64-<g>-<n>-ttbr0` | the same through TTBR0_EL1/TG0/T0SZ, EPD1=1 |
/// | `arm-short` | short-descriptor, TTBCR.N=0, TTBR0 = root, SCTLR.TRE=1, AFE=0, DACR = all domains Client, PRRR/NMRR as Linux's `proc-v7-2level.S`, PXN implemented |
/// | `arm-lpae` | TTBCR.EAE=1, T0SZ=T1SZ=0 (TTBR0 = root translates all 4 GiB: equivalent to Linux's split where TTBR1 points into the same tables), MAIR0/MAIR1 as Linux's `proc-v7-3level.S` |
/// | `riscv64-sv39/48/57` | satp.MODE = 8/9/10, satp.PPN = root >> 12, SUM=0, MXR=0, Svpbmt and Svnapot implemented, Svade (A/D not updated by hardware) |
/// | `loongarch64-3level-16k` | PGDL = root (a user tree: addresses with VA\[63\] = 1 go through PGDH, which holds another tree, and are refused as [`FaultKind::NonCanonical`]), PWCL/PWCH as Linux's `setup_ptwalker` for 16K pages and 3 levels (PT 14/11, Dir1 25/11, Dir3 36/11), VALEN = PALEN = 48 (so VA\[47\], above the tree's 47 bits, is not translated by the tables: such addresses alias, as on hardware) |
/// | `loongarch64-4level-4k` | PGDL = PGDH = root; PWCL/PWCH for 4K pages, 4 levels (PT 12/9, Dir1 21/9, Dir2 30/9, Dir3 39/9); VALEN = PALEN = 48 |
/// | `s390x-3level/4level/5level` | primary ASCE = root with DT = region-third / region-second / region-first and TL=3; EDAT-1, EDAT-2 and instruction-execution protection installed and enabled |
/// | `powerpc64-radix-4k/64k` | process-table entry of the current PID (PIDR) with RPDB = root, RTS = 52-bit, RPDS = 13 (Linux's `RADIX_PGD_INDEX_SIZE`); so quadrant 0 translates through it and quadrants 1-3 are refused ([`FaultKind::NonCanonical`]); AMR = IAMR = 0 |
///
/// Linux's PAT (`pat_bp_init`): PAT0..7 = WB, WC, UC-, UC, WB, WP, UC-, WT; MTRRs are
/// assumed to say WB everywhere. Linux's arm64 MAIR_EL1: index 0 Normal WB (0xff), 1
/// Normal-Tagged (0xff until MTE is enabled), 2 Normal-NC (0x44), 3 Device-nGnRnE (0x00),
/// 4 Device-nGnRE (0x04).
///
/// Unknown mode names give `Err(Fault { level: 0, kind: FaultKind::BadConfig })`.
pub fn walk_mode(mode_name: &str, mem: &impl PhysMem, root: u64, va: u64) -> WalkResult {
    let bad = Err(Fault::new(0, FaultKind::BadConfig));
    match mode_name {
        "x86_64-4level" => x86::walk(mem, &x86::X86Config::linux_4level(root), va),
        "x86_64-5level" => x86::walk(mem, &x86::X86Config::linux_5level(root), va),
        "i386-2level" => x86::walk(mem, &x86::X86Config::linux_i386_2level(root), va),
        "i386-pae" => x86::walk(mem, &x86::X86Config::linux_i386_pae(root), va),
        "arm-short" => arm::walk_short(mem, &arm::ShortConfig::linux(root), va),
        "arm-lpae" => arm::walk_lpae(mem, &arm::LpaeConfig::linux(root), va),
        "riscv64-sv39" => riscv::walk(mem, &riscv::RiscvConfig::linux(riscv::SATP_SV39, root), va),
        "riscv64-sv48" => riscv::walk(mem, &riscv::RiscvConfig::linux(riscv::SATP_SV48, root), va),
        "riscv64-sv57" => riscv::walk(mem, &riscv::RiscvConfig::linux(riscv::SATP_SV57, root), va),
        "loongarch64-3level-16k" => {
            // The root is the user tree in PGDL; PGDH (VA[63] = 1) holds the kernel's.
            if va >> 63 != 0 {
                return Err(Fault::new(2, FaultKind::NonCanonical));
            }
            loongarch::walk(mem, &loongarch::LoongArchConfig::linux_16k_3level(root), va)
        }
        "loongarch64-4level-4k" => loongarch::walk(mem, &loongarch::LoongArchConfig::linux_4k_4level(root), va),
        "s390x-3level" => s390::walk(mem, &s390::S390Config::linux(root, s390::DT_REGION_THIRD), va),
        "s390x-4level" => s390::walk(mem, &s390::S390Config::linux(root, s390::DT_REGION_SECOND), va),
        "s390x-5level" => s390::walk(mem, &s390::S390Config::linux(root, s390::DT_REGION_FIRST), va),
        "powerpc64-radix-4k" | "powerpc64-radix-64k" => {
            // The root is PIDR's tree: quadrant 0. Quadrant 3 would use PID 0's entry.
            if va >> 62 != 0 {
                return Err(Fault::new(3, FaultKind::NonCanonical));
            }
            powerpc::walk(mem, &powerpc::RadixConfig::linux(root), va)
        }
        _ => match arm64::Arm64Config::from_mode_name(mode_name, root) {
            Some(cfg) => arm64::walk(mem, &cfg, va),
            None => bad,
        },
    }
}

#[cfg(test)]
pub(crate) mod testmem {
    //! A tiny sparse memory for the unit tests: hand-built tables live here.
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Byte-granular sparse memory; unwritten bytes read as zero.
    #[derive(Default)]
    pub struct Mem {
        bytes: RefCell<HashMap<u64, u8>>,
    }

    impl Mem {
        pub fn new() -> Self {
            Self::default()
        }
        pub fn le64(&self, pa: u64, v: u64) {
            self.write(PhysAddr(pa), &v.to_le_bytes());
        }
        pub fn le32(&self, pa: u64, v: u32) {
            self.write(PhysAddr(pa), &v.to_le_bytes());
        }
        pub fn be64(&self, pa: u64, v: u64) {
            self.write(PhysAddr(pa), &v.to_be_bytes());
        }
    }

    impl PhysMem for Mem {
        archmm::exclusive_atomics!();
        fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
            let m = self.bytes.borrow();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *m.get(&(pa.0 + i as u64)).unwrap_or(&0);
            }
        }
        fn write(&self, pa: PhysAddr, buf: &[u8]) {
            let mut m = self.bytes.borrow_mut();
            for (i, b) in buf.iter().enumerate() {
                m.insert(pa.0 + i as u64, *b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(bits(0xabcd, 11, 4), 0xbc);
        assert_eq!(field(7, 4), 0xf0);
        assert_eq!(mask(63), u64::MAX);
        assert!(sign_extended(0xffff_8000_0000_0000, 47));
        assert!(!sign_extended(0x0000_8000_0000_0000, 47));
        assert_eq!(arm_attr_memtype(0xff), MemType::Normal);
        assert_eq!(arm_attr_memtype(0xee), MemType::Normal);
        assert_eq!(arm_attr_memtype(0x44), MemType::WriteCombine);
        assert_eq!(arm_attr_memtype(0x00), MemType::Device);
        assert_eq!(arm_attr_memtype(0x04), MemType::Device);
        assert_eq!(arm_attr_memtype(0xaa), MemType::Other(0xaa));
    }

    #[test]
    fn check_matrix() {
        let t = RefTranslation {
            pa: 0,
            page_size: 4096,
            level: 0,
            readable: true,
            writable: false,
            executable: false,
            user: false,
            global: false,
            memtype: MemType::Normal,
            raw_leaf: 0,
            perms: Perms { kernel_read: true, ..Perms::default() },
            store_needs_dirty: false,
        };
        assert!(t.check(Access::default()).is_ok());
        let e = t.check(Access { write: true, ..Access::default() }).unwrap_err();
        assert_eq!(e.kind, FaultKind::Permission);
        assert!(t.check(Access { user: true, ..Access::default() }).is_err());
        assert!(t.check(Access { exec: true, ..Access::default() }).is_err());
    }

    #[test]
    fn every_mode_name_has_a_configuration() {
        let names = [
            "x86_64-4level",
            "x86_64-5level",
            "i386-2level",
            "i386-pae",
            "arm64-4k-39",
            "arm64-4k-48",
            "arm64-16k-36",
            "arm64-16k-47",
            "arm64-16k-48",
            "arm64-64k-42",
            "arm64-64k-48",
            "arm64-64k-52",
            "arm64-4k-48-ttbr0",
            "arm-short",
            "arm-lpae",
            "riscv64-sv39",
            "riscv64-sv48",
            "riscv64-sv57",
            "loongarch64-3level-16k",
            "loongarch64-4level-4k",
            "s390x-3level",
            "s390x-4level",
            "s390x-5level",
            "powerpc64-radix-4k",
            "powerpc64-radix-64k",
        ];
        let m = testmem::Mem::new();
        for name in names {
            // Empty memory at a page-aligned root: every walk fails, but never for want of
            // a configuration.
            for va in [0, 0x1000, !0xfff] {
                if let Err(f) = walk_mode(name, &m, 0x10_0000, va) {
                    assert_ne!(f.kind, FaultKind::BadConfig, "{name} at {va:#x}");
                }
            }
        }
    }

    #[test]
    fn unknown_mode() {
        let m = testmem::Mem::new();
        assert_eq!(walk_mode("vax", &m, 0, 0).unwrap_err().kind, FaultKind::BadConfig);
    }
}
