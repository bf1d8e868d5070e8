//! Reference MMU walkers: a second, independent opinion on page-table bits.
//!
//! Each architecture's folder holds a walker (`arch/<name>/refwalk.rs`) that walks its
//! translation tables the way its MMU (or, for LoongArch, its TLB-refill handler) does: it
//! takes the architecture's own control registers (CR3/CR4/EFER, TTBRx/TCR/MAIR, satp,
//! PWCL/PWCH/PGD, the ASCE, a radix tree root), reads raw table words through
//! [`PhysMem`] and decodes them from the architecture manuals:
//!
//! | walker | manual |
//! |---|---|
//! | [`crate::arch::x86_64::refwalk`] (also i386) | Intel SDM vol. 3A, chapter 4 "Paging" (4.3 32-bit, 4.4 PAE, 4.5 4/5-level, 4.6 access rights, 4.9 PAT/PCD/PWT, 11.12 PAT) |
//! | [`crate::arch::arm64::refwalk`] | Arm ARM (DDI 0487) D8 "The AArch64 Virtual Memory System Architecture" (VMSAv8-64) |
//! | [`crate::arch::arm::refwalk`] | Arm ARM v7-A/R (DDI 0406C) B3.5 short-descriptor, B3.6 long-descriptor (LPAE), B3.7 access permissions, B3.8 memory attributes |
//! | [`crate::arch::riscv64::refwalk`] | RISC-V Privileged ISA, "Supervisor-Level ISA": satp, Sv39/Sv48/Sv57, Svpbmt, Svnapot |
//! | [`crate::arch::loongarch64::refwalk`] | LoongArch Reference Manual vol. 1, ch. 5 (TLB entries, LDDIR/LDPTE, PWCL/PWCH) and Linux's `arch/loongarch/mm/tlbex.S` software layout |
//! | [`crate::arch::s390::refwalk`] | z/Architecture Principles of Operation (SA22-7832), ch. 3 "Dynamic Address Translation" |
//! | [`crate::arch::powerpc::refwalk`] | Power ISA v3.0B Book III, 5.7.10 "Radix Tree Translation" |
//!
//! Being in the arch's folder is about finding things, not sharing code: a walker uses
//! nothing of archmm's encoders (`crate::pgtable`, the arch's `mod.rs`), only this module,
//! [`PhysMem`] and [`PhysAddr`]; a unit test reads the walkers' sources and fails
//! otherwise. A walker names its mode's type only to implement [`RefWalk`] for it.
//!
//! # Common result types
//!
//! A walk yields a [`RefTranslation`] or a [`Fault`]. Levels are numbered uniformly across
//! architectures as the *distance from the last level*: 0 is the table that maps the
//! smallest pages (x86 PT, arm64 level 3, RISC-V level 0, s390 page table), 1 the table
//! above it (PMD, segment table, ...), and so on up to the root.
//!
//! [`walk_mode`] maps archmm's mode names to hardware configurations through the registry;
//! the assumptions each makes (how Linux programs MAIR, PAT, PRRR/NMRR, ...) are
//! documented on the mode's [`RefWalk`] implementation.

use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;

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

/// A paging mode's reference walker: the hardware configuration Linux programs for the
/// mode, and a walk through it. Each arch implements it for its modes in its own folder
/// (`arch/<name>/refwalk.rs`); the registry ([`crate::arch::registry`]) requires it of every
/// mode, so a mode without a walker does not compile.
pub trait RefWalk {
    /// Walk `va` in the tables rooted at physical address `root` as the MMU configured as
    /// Linux configures it for this mode does.
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult;
}

/// Walk `va` in the tables rooted at physical address `root`, for archmm's paging mode
/// `mode_name`, with the hardware configuration Linux programs for that mode (documented on
/// each mode's [`RefWalk`] implementation).
///
/// Unknown mode names give `Err(Fault { level: 0, kind: FaultKind::BadConfig })`.
pub fn walk_mode(mode_name: &str, mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
    struct Walk<'a, P> {
        mem: &'a P,
        root: PhysAddr,
        va: VirtAddr,
    }
    impl<P: PhysMem> crate::arch::registry::RefWalkVisitor for Walk<'_, P> {
        type Output = WalkResult;
        fn visit<M: crate::pgtable::PagingMode + RefWalk>(self) -> WalkResult {
            M::ref_walk(self.mem, self.root, self.va)
        }
    }
    crate::arch::registry::visit_ref_walk(mode_name, Walk { mem, root, va })
        .unwrap_or(Err(Fault::new(0, FaultKind::BadConfig)))
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
        crate::exclusive_atomics!();
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
        let names = crate::arch::modes::MODES.iter().map(|m| m.name);
        let m = testmem::Mem::new();
        for name in names {
            // Empty memory at a page-aligned root: every walk fails, but never for want of
            // a configuration.
            for va in [0, 0x1000, !0xfff] {
                if let Err(f) = walk_mode(name, &m, PhysAddr(0x10_0000), VirtAddr(va)) {
                    assert_ne!(f.kind, FaultKind::BadConfig, "{name} at {va:#x}");
                }
            }
        }
    }

    /// The walkers are a second opinion only while they share nothing with the encoders:
    /// outside the line that implements [`RefWalk`] for a mode's type, a walker's source
    /// names nothing of the crate but this module, [`PhysMem`], the address types and (the x86
    /// and arm families share a walker) another walker.
    #[test]
    fn walkers_use_nothing_of_the_encoders() {
        let sources = crate::arch::WALKER_SOURCES;
        assert_eq!(sources.len(), crate::arch::ARCHES.len(), "every arch's walker is checked");
        let allowed = ["crate::refwalk", "crate::physmem::PhysMem", "crate::addr::", "crate::exclusive_atomics"];
        for &(arch, src) in sources {
            for (n, line) in src.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("RefWalk for crate::arch::") || code.trim_start().starts_with("for crate::arch::") {
                    continue;
                }
                let mut rest = code;
                while let Some(i) = rest.find("crate::").or_else(|| rest.find("super::")) {
                    let tail = &rest[i..];
                    let ok = allowed.iter().any(|a| tail.starts_with(a))
                        || tail.starts_with("super::*")
                        || (tail.starts_with("crate::arch::") && tail.contains("::refwalk::"));
                    assert!(ok, "{arch}/refwalk.rs:{}: uses {}", n + 1, tail);
                    rest = &tail[7..];
                }
            }
        }
    }

    #[test]
    fn unknown_mode() {
        let m = testmem::Mem::new();
        assert_eq!(walk_mode("vax", &m, PhysAddr(0), VirtAddr(0)).unwrap_err().kind, FaultKind::BadConfig);
    }
}
