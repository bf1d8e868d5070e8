//! User address spaces and special mappings (the vDSO), one generic definition.
//!
//! Linux has `pgd_alloc()` per architecture, and 16 definitions of
//! `arch_setup_additional_pages()` around nearly identical `_install_special_mapping()`
//! code. Here an [`AddressSpace`] is a user page-table root of the arch's user paging mode
//! plus a small table of its mappings (VMAs); how the kernel half is reached is arch data
//! ([`KernelShare`]): x86, riscv, i386 and arm copy the kernel's top-level entries into every
//! user root (sharing the lower tables), while arm64 (TTBR1), s390 (the kernel's own ASCE),
//! powerpc radix (quadrant 3) and LoongArch (PGDH) keep the kernel in a separate root.
//!
//! [`AddressSpace::install_special_mapping`] maps given pages as one named VMA;
//! [`arch_setup_additional_pages`] places the vDSO's data pages (vvar) and text by the
//! arch's [`VdsoRule`], a rule with data, not code, per arch.

use crate::addr::{PhysAddr, VirtAddr};
use crate::pgtable::{MapFlags, PageTable, PagingMode, PgError, Prot, TableAlloc, TlbFlush};
use crate::physmem::PhysMem;
use core::fmt;

/// How a user address space reaches the kernel half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelShare {
    /// The user root holds copies of the kernel's top-level entries (the lower tables are
    /// shared): one root translates both halves (x86 CR3, riscv satp, i386, arm TTBR0).
    CopyTopLevel,
    /// The kernel half lives in a root of its own the CPU selects by address (arm64 TTBR1,
    /// s390's kernel ASCE, powerpc radix quadrant 3, LoongArch PGDH): the user root holds
    /// only user mappings.
    SeparateRoot,
}

/// Where an arch puts the vDSO: `vvar_pages` data pages, then the text, in one range
/// found by get_unmapped_area() (top-down from the mmap base, or at a hint when free).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VdsoRule {
    /// Data pages mapped before the text (vvar, time-namespace page, arch data).
    pub vvar_pages: u64,
    /// Ask for the very top of the user space first (LoongArch: STACK_TOP is TASK_SIZE
    /// minus the vDSO, and vdso_base() asks for STACK_TOP); otherwise top-down.
    pub at_task_top: bool,
}

/// Most mappings an [`AddressSpace`] tracks (it has no heap).
pub const MAX_VMAS: usize = 32;

/// The gap Linux leaves between the stack top and the mmap base without randomization
/// (mm/util.c mmap_base(): MIN_GAP, 128 MiB).
pub const MMAP_MIN_GAP: u64 = 128 << 20;

/// Why a user address-space operation was refused; nothing changed then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UspaceError {
    /// The range is not inside `[0, TASK_SIZE)` or not page-aligned.
    BadRange {
        /// Start.
        va: u64,
        /// Length.
        len: u64,
    },
    /// The range overlaps an existing mapping.
    Overlap(u64),
    /// No mapping starts at this address with this length.
    NoSuchMapping(u64),
    /// A user mapping needs a user protection.
    NotUser,
    /// The VMA table is full.
    TooManyMappings,
    /// No free range of that size.
    NoSpace(u64),
    /// The page-table engine refused (no memory for a table, ...).
    PageTable(PgError),
}

impl core::error::Error for UspaceError {}

impl fmt::Display for UspaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UspaceError::BadRange { va, len } => write!(f, "[{va:#x}, +{len:#x}) is not a page-aligned user range"),
            UspaceError::Overlap(v) => write!(f, "{v:#x} is already mapped"),
            UspaceError::NoSuchMapping(v) => write!(f, "no mapping at {v:#x} of that length"),
            UspaceError::NotUser => f.write_str("a user mapping needs user access"),
            UspaceError::TooManyMappings => write!(f, "more than {MAX_VMAS} mappings"),
            UspaceError::NoSpace(len) => write!(f, "no free range of {len:#x} bytes"),
            UspaceError::PageTable(e) => write!(f, "page table: {e}"),
        }
    }
}

impl From<PgError> for UspaceError {
    fn from(e: PgError) -> Self {
        UspaceError::PageTable(e)
    }
}

/// One mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Protection.
    pub prot: Prot,
    /// `[vdso]`, `[vvar]`, or `""` for anonymous/ordinary mappings.
    pub name: &'static str,
}

/// A user address space of paging mode `Mo`.
#[derive(Debug)]
pub struct AddressSpace<'p, Mo: PagingMode, M: PhysMem> {
    pt: PageTable<'p, Mo, M>,
    vmas: [Option<Vma>; MAX_VMAS],
    task_size: u64,
    /// Roots whose top-level entries this root shares.
    shared: [Option<u64>; 2],
}

impl<'p, Mo: PagingMode, M: PhysMem> AddressSpace<'p, Mo, M> {
    /// A new, empty user address space (`mm_alloc()` + `pgd_alloc()`). With
    /// [`KernelShare::CopyTopLevel`], `kernel_root` (of the same mode) gives the kernel
    /// entries to copy: every top-level entry at or above `task_size`.
    ///
    /// # Errors
    /// [`UspaceError::PageTable`] when no root can be allocated.
    pub fn new(
        mem: &'p M,
        alloc: &mut impl TableAlloc,
        task_size: u64,
        share: KernelShare,
        kernel_root: Option<u64>,
    ) -> Result<Self, UspaceError> {
        let mut pt = PageTable::<Mo, M>::new(mem, alloc)?;
        let mut shared = [None; 2];
        if let (KernelShare::CopyTopLevel, Some(k)) = (share, kernel_root) {
            pt.share_root_entries(k, |va| va >= task_size);
            shared[0] = Some(k);
        }
        Ok(Self { pt, vmas: [None; MAX_VMAS], task_size, shared })
    }

    /// Also share `src`'s top-level entries for addresses `pick` accepts (e.g. a kernel's
    /// identity map of itself while it runs from low addresses). Undone by `destroy`.
    pub fn share_from(&mut self, src: u64, pick: impl FnMut(u64) -> bool) -> usize {
        let n = self.pt.share_root_entries(src, pick);
        if let Some(slot) = self.shared.iter_mut().find(|s| s.is_none()) {
            *slot = Some(src);
        }
        n
    }

    /// The root table (what goes into CR3 / TTBR0 / satp for this process).
    pub fn root(&self) -> u64 {
        self.pt.root().0
    }

    /// The page table, for walks.
    pub fn table(&self) -> &PageTable<'p, Mo, M> {
        &self.pt
    }

    /// TASK_SIZE.
    pub fn task_size(&self) -> u64 {
        self.task_size
    }

    /// The mappings in address order.
    pub fn vmas(&self) -> impl Iterator<Item = Vma> + '_ {
        let mut v: [Option<Vma>; MAX_VMAS] = self.vmas;
        v.sort_unstable_by_key(|m| m.map(|m| m.start).unwrap_or(u64::MAX));
        v.into_iter().flatten()
    }

    /// mmap_base() without randomization: TASK_SIZE minus the minimum stack gap.
    pub fn mmap_base(&self) -> u64 {
        self.task_size.saturating_sub(MMAP_MIN_GAP) & !(Mo::PAGE_SIZE - 1)
    }

    fn check_range(&self, va: u64, len: u64) -> Result<u64, UspaceError> {
        let page = Mo::PAGE_SIZE;
        let end = va
            .checked_add(len)
            .filter(|&e| len != 0 && e <= self.task_size && va.is_multiple_of(page) && len.is_multiple_of(page));
        end.ok_or(UspaceError::BadRange { va, len })
    }

    fn overlaps(&self, va: u64, end: u64) -> Option<u64> {
        self.vmas.iter().flatten().find(|m| m.start < end && va < m.end).map(|m| m.start.max(va))
    }

    /// get_unmapped_area(): `hint` if `[hint, hint + len)` is free and inside the space,
    /// else the highest free range of `len` bytes below the mmap base (top-down).
    pub fn get_unmapped_area(&self, hint: Option<u64>, len: u64) -> Option<u64> {
        let page = Mo::PAGE_SIZE;
        let len = crate::addr::align_up_saturating(len, page);
        if let Some(h) = hint.map(|h| h & !(page - 1)) {
            if self.check_range(h, len).is_ok() && self.overlaps(h, h + len).is_none() {
                return Some(h);
            }
        }
        let mut top = self.mmap_base();
        loop {
            let start = top.checked_sub(len)?;
            match self.vmas.iter().flatten().filter(|m| m.start < top && start < m.end).map(|m| m.start).min() {
                None => return Some(start),
                Some(s) => top = s,
            }
        }
    }

    fn add_vma(&mut self, vma: Vma) -> Result<(), UspaceError> {
        let slot = self.vmas.iter_mut().find(|s| s.is_none()).ok_or(UspaceError::TooManyMappings)?;
        *slot = Some(vma);
        Ok(())
    }

    /// Map the physical pages `pages` (one per page) at `va` as one mapping named `name`
    /// with `prot` (which must allow user access): `_install_special_mapping()`. All or
    /// nothing.
    ///
    /// # Errors
    /// [`UspaceError`]; nothing changed then.
    pub fn install_special_mapping(
        &mut self,
        name: &'static str,
        va: u64,
        pages: &[u64],
        prot: Prot,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), UspaceError> {
        if !prot.user {
            return Err(UspaceError::NotUser);
        }
        let page = Mo::PAGE_SIZE;
        let end = self.check_range(va, pages.len() as u64 * page)?;
        if let Some(v) = self.overlaps(va, end) {
            return Err(UspaceError::Overlap(v));
        }
        if self.vmas.iter().all(|s| s.is_some()) {
            return Err(UspaceError::TooManyMappings);
        }
        Mo::check_prot(prot)?;
        for (i, &pa) in pages.iter().enumerate() {
            let r = self.pt.map(
                VirtAddr(va + i as u64 * page),
                PhysAddr(pa),
                page,
                prot,
                MapFlags { replace: false, blocks: false },
                alloc,
                tlb,
            );
            if let Err(e) = r {
                // Undo the pages mapped so far (no allocation needed to unmap them).
                let _ = self.pt.unmap(VirtAddr(va), i as u64 * page, alloc, tlb);
                return Err(e.into());
            }
        }
        self.add_vma(Vma { start: va, end, prot, name })
    }

    /// Map `[pa, pa + len)` at `va` (an ordinary mapping, e.g. anonymous memory the caller
    /// allocated), blocks where alignment allows.
    ///
    /// # Errors
    /// [`UspaceError`]; nothing changed then.
    pub fn map(
        &mut self,
        va: u64,
        pa: u64,
        len: u64,
        prot: Prot,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), UspaceError> {
        if !prot.user {
            return Err(UspaceError::NotUser);
        }
        let end = self.check_range(va, len)?;
        if let Some(v) = self.overlaps(va, end) {
            return Err(UspaceError::Overlap(v));
        }
        if self.vmas.iter().all(|s| s.is_some()) {
            return Err(UspaceError::TooManyMappings);
        }
        self.pt.map(VirtAddr(va), PhysAddr(pa), len, prot, MapFlags::default(), alloc, tlb)?;
        self.add_vma(Vma { start: va, end, prot, name: "" })
    }

    /// Remove the mapping that starts at `va` and is `len` bytes long (munmap of a whole
    /// mapping); emptied tables are freed.
    ///
    /// # Errors
    /// [`UspaceError::NoSuchMapping`]; nothing changed then.
    pub fn unmap(
        &mut self,
        va: u64,
        len: u64,
        alloc: &mut impl TableAlloc,
        tlb: &mut impl TlbFlush,
    ) -> Result<(), UspaceError> {
        let slot = self
            .vmas
            .iter_mut()
            .find(|s| s.is_some_and(|m| m.start == va && m.end - m.start == len))
            .ok_or(UspaceError::NoSuchMapping(va))?;
        self.pt.unmap(VirtAddr(va), len, alloc, tlb)?;
        *slot = None;
        Ok(())
    }

    /// Tear the address space down: every user mapping's tables and the root are freed;
    /// shared kernel tables are left alone.
    pub fn destroy(mut self, alloc: &mut impl TableAlloc) {
        for src in self.shared.into_iter().flatten() {
            self.pt.unshare_root_entries(src);
        }
        self.pt.destroy(alloc);
    }
}

/// Where [`arch_setup_additional_pages`] put the vDSO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VdsoPlacement {
    /// `[vvar]` start.
    pub vvar: u64,
    /// `[vdso]` text start.
    pub text: u64,
    /// Text length in bytes.
    pub text_len: u64,
}

/// arch_setup_additional_pages(): map the vDSO's data pages (`vvar`, read-only) and its
/// text (`text`, read and execute) into `mm` where `rule` places them.
///
/// # Errors
/// [`UspaceError`] (no space, table memory); nothing changed then.
pub fn arch_setup_additional_pages<Mo: PagingMode, M: PhysMem>(
    mm: &mut AddressSpace<'_, Mo, M>,
    rule: &VdsoRule,
    vvar: &[u64],
    text: &[u64],
    alloc: &mut impl TableAlloc,
    tlb: &mut impl TlbFlush,
) -> Result<VdsoPlacement, UspaceError> {
    let page = Mo::PAGE_SIZE;
    let vvar_len = rule.vvar_pages * page;
    let text_len = text.len() as u64 * page;
    if vvar.len() as u64 != rule.vvar_pages || text.is_empty() {
        return Err(UspaceError::BadRange { va: 0, len: vvar_len + text_len });
    }
    let hint = rule.at_task_top.then(|| mm.task_size().saturating_sub(vvar_len + text_len));
    let base = mm.get_unmapped_area(hint, vvar_len + text_len).ok_or(UspaceError::NoSpace(vvar_len + text_len))?;
    let user_ro =
        Prot { read: true, write: false, exec: false, user: true, global: false, mem: crate::pgtable::MemType::Normal };
    let user_rx = Prot { exec: true, ..user_ro };
    // A mode without a no-execute bit maps data executable.
    let user_ro = if Mo::check_prot(user_ro).is_ok() { user_ro } else { user_rx };
    if !vvar.is_empty() {
        mm.install_special_mapping("[vvar]", base, vvar, user_ro, alloc, tlb)?;
    }
    if let Err(e) = mm.install_special_mapping("[vdso]", base + vvar_len, text, user_rx, alloc, tlb) {
        if !vvar.is_empty() {
            let _ = mm.unmap(base, vvar_len, alloc, tlb);
        }
        return Err(e);
    }
    Ok(VdsoPlacement { vvar: base, text: base + vvar_len, text_len })
}
