//! Kernel protections: `set_memory_*()`, `mark_rodata_ro()`, the protection change of
//! `free_initmem()`, and the W^X check (`debug_checkwx()`).
//!
//! Linux has a change_page_attr implementation per architecture (x86's cpa, arm64's
//! pageattr.c, riscv's pageattr.c, ...). Here there is one, over the page-table engine:
//! [`set_memory`] changes one attribute of every mapping in a range, keeping the others,
//! splitting blocks only at the range's edges (the engine splits where a range ends inside
//! a block) and collapsing tables that became uniform again, so a range made read-only and
//! then writable again ends with the blocks it started with.
//!
//! What the kernel's virtual ranges map is [`KernelLayout`]: the linear map and, on arches
//! that map the kernel image a second time (x86's `__START_KERNEL_map`, arm64's
//! `KIMAGE_VADDR`, riscv's `KERNEL_LINK_ADDR`), the image mapping with its sections. It lets
//! [`MemChange::P`] restore a mapping [`MemChange::Np`] removed, and [`mark_rodata_ro`]
//! give each section its final protection.

use crate::addr::{PhysAddr, VirtAddr};
use crate::pgtable::{MapFlags, PageTable, PagingMode, PgError, Prot, TableAlloc, TlbFlush, VaRange};
use crate::physmem::PhysMem;

/// One attribute change (`set_memory_ro()`, `_rw`, `_x`, `_nx`, `_np`, `_p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemChange {
    /// Read-only.
    Ro,
    /// Writable.
    Rw,
    /// Executable.
    X,
    /// Not executable.
    Nx,
    /// Not present (the translation is removed; the memory is untouched).
    Np,
    /// Present again, with the protection the range's region gives it.
    P,
}

impl MemChange {
    /// The protection `p` becomes.
    pub fn apply(self, p: Prot) -> Prot {
        match self {
            MemChange::Ro => Prot { write: false, ..p },
            MemChange::Rw => Prot { write: true, ..p },
            MemChange::X => Prot { exec: true, ..p },
            MemChange::Nx => Prot { exec: false, ..p },
            MemChange::Np | MemChange::P => p,
        }
    }
}

/// Where an arch maps its kernel image besides the linear map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageMapBase {
    /// Physical address 0 sits at this virtual address, the image at `base + pa`
    /// (x86-64's `__START_KERNEL_map`).
    PhysZero(u64),
    /// The image's first byte sits at this virtual address (arm64's `KIMAGE_VADDR`, riscv's
    /// `KERNEL_LINK_ADDR`).
    ImageStart(u64),
}

impl ImageMapBase {
    /// The virtual address of an image starting at physical `pa`.
    pub fn va_of(self, pa: u64) -> u64 {
        match self {
            ImageMapBase::PhysZero(b) => b.wrapping_add(pa),
            ImageMapBase::ImageStart(b) => b,
        }
    }
}

/// How an arch words debug_checkwx()'s lines (Linux prints them from per-arch ptdump code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WxFormat {
    /// Prefix of the `Found insecure W+X mapping` warning (`x86/mm: `, `arm64/mm: `).
    pub found_prefix: &'static str,
    /// Prefix of the `Checked W+X mappings` line.
    pub checked_prefix: &'static str,
    /// How the failure is spelled (`FAILED`, riscv's `failed`).
    pub failed: &'static str,
    /// The line ends with a full stop (x86).
    pub period: bool,
    /// A failure also counts kernel pages executable from user mode (arm64's non-UXN).
    pub uxn: bool,
}

impl WxFormat {
    /// arm's, powerpc's and s390's wording.
    pub const GENERIC: WxFormat =
        WxFormat { found_prefix: "", checked_prefix: "", failed: "FAILED", period: false, uxn: false };
}

/// Write debug_checkwx()'s lines for `r`.
///
/// # Errors
/// The writer's.
pub fn write_wx(f: &WxFormat, r: &WxReport, log: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let dot = if f.period { "." } else { "" };
    if let Some(va) = r.first {
        writeln!(log, "{}Found insecure W+X mapping at address {va:#x}", f.found_prefix)?;
    }
    if r.wx_pages == 0 && (!f.uxn || r.user_exec_pages == 0) {
        return writeln!(log, "{}Checked W+X mappings: passed, no W+X pages found{dot}", f.checked_prefix);
    }
    if f.uxn {
        writeln!(
            log,
            "{}Checked W+X mappings: {}, {} W+X pages found, {} non-UXN pages found{dot}",
            f.checked_prefix, f.failed, r.wx_pages, r.user_exec_pages
        )
    } else {
        writeln!(log, "{}Checked W+X mappings: {}, {} W+X pages found{dot}", f.checked_prefix, f.failed, r.wx_pages)
    }
}

/// The kernel image as mapped at its own virtual address: where, and its sections (laid
/// out from its start in Linux's vmlinux.lds order, each page-aligned: text, rodata,
/// rwdata, init, bss).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageLayout {
    /// Virtual address of the image's first byte.
    pub va: u64,
    /// Physical address of the image's first byte.
    pub pa: u64,
    /// Page-rounded section sizes.
    pub text: u64,
    /// Read-only data.
    pub rodata: u64,
    /// Read-write data.
    pub rwdata: u64,
    /// Init sections.
    pub init: u64,
    /// BSS.
    pub bss: u64,
    /// Alignment of rodata's start and end (x86-64 aligns both to 2 MiB).
    pub rodata_align: u64,
}

/// The image's sections by name, as `(offset from the image start, bytes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Kernel text.
    Text,
    /// Read-only data.
    Rodata,
    /// Read-write data.
    Data,
    /// Init code and data.
    Init,
    /// BSS.
    Bss,
}

impl ImageLayout {
    /// The layout of an image at physical `pa` with section sizes `s`, each rounded to
    /// `page`, rodata's start and end aligned to `rodata_align` (at least `page`).
    pub fn new(pa: u64, s: &crate::boot::KernelSections, page: u64, rodata_align: u64) -> ImageLayout {
        let up = |x: u64, a: u64| crate::addr::align_up_saturating(x, a);
        let ra = rodata_align.max(page);
        ImageLayout {
            va: 0,
            pa,
            text: up(s.text, ra),
            rodata: up(s.rodata, ra),
            rwdata: up(s.rwdata, page),
            init: up(s.init, page),
            bss: up(s.bss, page),
            rodata_align: ra,
        }
    }

    /// Bytes the image spans.
    pub fn size(&self) -> u64 {
        self.text + self.rodata + self.rwdata + self.init + self.bss
    }

    /// `(offset, bytes)` of a section.
    pub fn section(&self, s: Section) -> (u64, u64) {
        let t = self.text;
        let r = t + self.rodata;
        let d = r + self.rwdata;
        let i = d + self.init;
        match s {
            Section::Text => (0, self.text),
            Section::Rodata => (t, self.rodata),
            Section::Data => (r, self.rwdata),
            Section::Init => (d, self.init),
            Section::Bss => (i, self.bss),
        }
    }

    /// The protection each section ends with after mark_rodata_ro(): text read-only and
    /// executable, everything else not executable, rodata read-only.
    pub fn final_prot(s: Section) -> Prot {
        match s {
            Section::Text => Prot::KERNEL_RX,
            Section::Rodata => Prot::KERNEL_RO,
            Section::Data | Section::Init | Section::Bss => Prot::KERNEL_RW,
        }
    }

    /// The section holding image offset `off`.
    pub fn section_at(&self, off: u64) -> Option<Section> {
        [Section::Text, Section::Rodata, Section::Data, Section::Init, Section::Bss].into_iter().find(|&s| {
            let (o, n) = self.section(s);
            off >= o && off - o < n
        })
    }
}

/// What the kernel's virtual ranges map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLayout {
    /// PAGE_OFFSET: the linear map maps physical `pa` at `page_offset + pa`.
    pub page_offset: u64,
    /// Physical end of the linear map (max_low_pfn's address).
    pub linear_end: u64,
    /// The image mapping, where the arch has one.
    pub image: Option<ImageLayout>,
    /// mark_rodata_ro() has run: the image's sections have their final protections.
    pub rodata_ro: bool,
}

impl KernelLayout {
    /// Where `va` belongs: its physical address and the protection the region gives it.
    pub fn region_of(&self, va: u64) -> Option<(u64, Prot)> {
        if let Some(img) = self.image {
            let off = va.wrapping_sub(img.va);
            if off < img.size() {
                let s = img.section_at(off)?;
                let prot = if self.rodata_ro { ImageLayout::final_prot(s) } else { EARLY_IMAGE_PROT };
                return Some((img.pa + off, prot));
            }
        }
        let pa = va.wrapping_sub(self.page_offset);
        if va >= self.page_offset && pa < self.linear_end {
            let alias_ro = self.rodata_ro
                && self.image.is_some_and(|img| {
                    let off = pa.wrapping_sub(img.pa);
                    off < img.text + img.rodata
                });
            return Some((pa, if alias_ro { Prot::KERNEL_RO } else { Prot::KERNEL_RW }));
        }
        None
    }
}

/// How the image is mapped before mark_rodata_ro(): read, write and execute, as the early
/// boot mapping of every arch that has one (x86's head64 identity/high map, arm64's
/// early page tables, riscv's setup_vm).
pub const EARLY_IMAGE_PROT: Prot =
    Prot { read: true, write: true, exec: true, user: false, global: true, mem: crate::pgtable::MemType::Normal };

/// `set_memory_*(va, pages)`: change one attribute of every page in the range.
///
/// Every page must be mapped (for [`MemChange::P`]: every page must belong to the linear
/// map or the image mapping); the check comes first, so a bad range changes nothing.
///
/// # Errors
/// [`PgError::NotMapped`] for a hole (or, for `P`, an address outside the kernel's regions),
/// alignment and range errors, [`PgError::NoMemory`] when a block at an edge cannot be
/// split (then runs already changed stay changed; allocation failure is not bad input).
#[allow(clippy::too_many_arguments)]
pub fn set_memory<Mo: PagingMode, M: PhysMem>(
    pt: &mut PageTable<'_, Mo, M>,
    layout: &KernelLayout,
    va: crate::addr::VirtAddr,
    pages: u64,
    change: MemChange,
    alloc: &mut impl TableAlloc,
    tlb: &mut impl TlbFlush,
) -> Result<(), PgError> {
    let va = va.0;
    let size = pages.checked_mul(Mo::PAGE_SIZE).ok_or(PgError::Wraps)?;
    if size == 0 {
        return Ok(());
    }
    let end = va.checked_add(size).ok_or(PgError::Wraps)?;
    match change {
        MemChange::Np => return pt.unmap(VirtAddr(va), size, alloc, tlb),
        MemChange::P => {
            // Check the whole range first, then map the holes.
            let mut v = va;
            while v < end {
                if layout.region_of(v).is_none() {
                    return Err(PgError::NotMapped(v));
                }
                v += Mo::PAGE_SIZE;
            }
            let mut v = va;
            while v < end {
                match pt.translate(VirtAddr(v)) {
                    Some(t) => v = (v & !(t.size - 1)) + t.size,
                    None => {
                        let (pa, prot) = layout.region_of(v).ok_or(PgError::NotMapped(v))?;
                        // A mode without a no-execute bit maps it executable, as Linux's
                        // PAGE_KERNEL is there.
                        let prot = if Mo::check_prot(prot).is_err() { Prot { exec: true, ..prot } } else { prot };
                        let mut e = v + Mo::PAGE_SIZE;
                        while e < end
                            && pt.translate(VirtAddr(e)).is_none()
                            && layout.region_of(e).map(|(p, q)| (p, q) == (pa + (e - v), prot)).unwrap_or(false)
                        {
                            e += Mo::PAGE_SIZE;
                        }
                        pt.map(
                            VirtAddr(v),
                            PhysAddr(pa),
                            e - v,
                            prot,
                            MapFlags { replace: false, blocks: true },
                            alloc,
                            tlb,
                        )?;
                        v = e;
                    }
                }
            }
            return Ok(());
        }
        _ => {}
    }
    // Every page mapped, every new protection expressible? Checked before any change.
    // set_memory_nx() on a mode without a no-execute bit changes nothing (Linux's
    // __supported_pte_mask has no _PAGE_NX there): see `target`.
    let target = |p: Prot| -> Prot {
        let q = change.apply(p);
        if change == MemChange::Nx && Mo::check_prot(q).is_err() {
            p
        } else {
            q
        }
    };
    let mut v = va;
    while v < end {
        let t = pt.translate(VirtAddr(v)).ok_or(PgError::NotMapped(v))?;
        Mo::check_prot(target(t.prot))?;
        v = (v & !(t.size - 1)).saturating_add(t.size);
    }
    // Runs of leaves with one protection: each run becomes one protect() call.
    let mut v = va;
    while v < end {
        let t = pt.translate(VirtAddr(v)).ok_or(PgError::NotMapped(v))?;
        let mut e = ((v & !(t.size - 1)).saturating_add(t.size)).min(end);
        while e < end {
            match pt.translate(VirtAddr(e)) {
                Some(n) if n.prot == t.prot => e = ((e & !(n.size - 1)).saturating_add(n.size)).min(end),
                _ => break,
            }
        }
        let new = target(t.prot);
        if new != t.prot {
            pt.protect(VirtAddr(v), e - v, new, alloc, tlb)?;
        }
        v = e;
    }
    Ok(())
}

/// The image's sections get their final protections, and (`alias_ro`) the linear map's
/// alias of text and rodata becomes read-only: Linux's mark_rodata_ro() with x86's alias
/// handling, arm64's rodata_full and riscv's linear-alias protection, which all agree.
///
/// # Errors
/// As [`set_memory`].
pub fn mark_rodata_ro<Mo: PagingMode, M: PhysMem>(
    pt: &mut PageTable<'_, Mo, M>,
    layout: &mut KernelLayout,
    alias_ro: bool,
    alloc: &mut impl TableAlloc,
    tlb: &mut impl TlbFlush,
) -> Result<(), PgError> {
    let Some(img) = layout.image else {
        layout.rodata_ro = true;
        return Ok(());
    };
    let page = Mo::PAGE_SIZE;
    let l = *layout;
    // Modes without a no-execute bit (i386 without PAE) leave everything executable.
    let has_nx = Mo::check_prot(Prot::KERNEL_RW).is_ok();
    for s in [Section::Text, Section::Rodata, Section::Data, Section::Bss] {
        let (off, len) = img.section(s);
        let (va, n) = (img.va + off, len / page);
        if n == 0 || pt.translate(VirtAddr(va)).is_none() {
            continue;
        }
        let want = ImageLayout::final_prot(s);
        set_memory(pt, &l, VirtAddr(va), n, if want.write { MemChange::Rw } else { MemChange::Ro }, alloc, tlb)?;
        if want.exec || has_nx {
            set_memory(pt, &l, VirtAddr(va), n, if want.exec { MemChange::X } else { MemChange::Nx }, alloc, tlb)?;
        }
    }
    let ro_len = (img.text + img.rodata) / page;
    let alias = layout.page_offset.wrapping_add(img.pa);
    // Where the image mapping is the linear map itself, there is no other alias.
    if alias_ro && ro_len > 0 && alias != img.va && pt.translate(VirtAddr(alias)).is_some() {
        set_memory(pt, &l, VirtAddr(alias), ro_len, MemChange::Ro, alloc, tlb)?;
    }
    layout.rodata_ro = true;
    Ok(())
}

/// What the W^X check found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WxReport {
    /// Base pages mapped writable and executable.
    pub wx_pages: u64,
    /// Base pages executable from user mode in the kernel's table (arm64's non-UXN count).
    pub user_exec_pages: u64,
    /// The first W+X address, if any.
    pub first: Option<u64>,
}

/// debug_checkwx(): walk every mapping the table holds and count writable-and-executable
/// pages.
pub fn check_wx<Mo: PagingMode, M: PhysMem>(pt: &PageTable<'_, Mo, M>) -> WxReport {
    let mut r = WxReport::default();
    let half = 1u64 << (Mo::VA_BITS.min(64) - 1);
    let ranges: [(u64, u64); 2] = match Mo::VA_RANGE {
        VaRange::Canonical => [(0, half), (0u64.wrapping_sub(half), half)],
        VaRange::High => [(0u64.wrapping_sub(half << 1), half), (0u64.wrapping_sub(half), half)],
        VaRange::Low => [(0, half), (half, half)],
    };
    for (start, size) in ranges {
        pt.for_each_leaf(VirtAddr(start), size, |va, len, _pa, prot| {
            let pages = len / Mo::PAGE_SIZE;
            if prot.write && prot.exec {
                r.wx_pages += pages;
                r.first.get_or_insert(va);
            }
            if prot.user && prot.exec {
                r.user_exec_pages += pages;
            }
        });
    }
    r
}
