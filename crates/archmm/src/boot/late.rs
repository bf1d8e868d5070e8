//! The end of the boot (kernel_init()): the initrd and the init sections freed,
//! mark_rodata_ro() and the W^X check.

use super::*;
use crate::addr::VirtAddr;
use crate::arch::Arch;
use crate::buddy::PageAlloc;
use crate::pgtable::PageTable;
use crate::physmem::PhysMem;

/// mark_readonly(): mark_rodata_ro() (the image's final protections, the linear alias of
/// text and rodata read-only), then debug_checkwx() over the whole kernel table.
pub(super) fn mark_readonly<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
) -> Result<crate::protect::WxReport, BootError> {
    let Some(root) = ctx.pgd else { return Ok(crate::protect::WxReport::default()) };
    if let Some(img) = ctx.layout.image {
        A::mark_rodata_ro_banner(&img, ctx.log)?;
    }
    let mem = *ctx.memblock.mem();
    let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
    crate::protect::mark_rodata_ro(&mut pt, &mut ctx.layout, true, &mut alloc, tlb).map_err(BootError::PageTable)?;
    // Where rodata is aligned beyond a page, the alignment gaps are image pages nothing
    // uses: free them as x86's mark_rodata_ro() does.
    if let Some(img) = ctx.image.filter(|i| i.rodata_align > A::page_size()) {
        let page = A::page_size();
        let up = |x: u64| crate::addr::align_up_saturating(x, page);
        let (text, rodata) = (up(ctx.fw.sections.text), up(ctx.fw.sections.rodata));
        let ro_off = img.section(crate::protect::Section::Rodata).0;
        let data_off = img.section(crate::protect::Section::Data).0;
        free_image_range(ctx, pages, tlb, text, ro_off - text.min(ro_off), "unused kernel image (text/rodata gap)")?;
        free_image_range(
            ctx,
            pages,
            tlb,
            ro_off + rodata,
            data_off.saturating_sub(ro_off + rodata),
            "unused kernel image (rodata/data gap)",
        )?;
    }
    let pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let wx = crate::protect::check_wx(&pt);
    if let Some(f) = A::WX_FORMAT {
        crate::protect::write_wx(&f, &wx, ctx.log)?;
    }
    Ok(wx)
}

/// Linux's POISON_FREE_INITMEM.
pub const POISON_FREE_INITMEM: u8 = 0xcc;

/// free_reserved_area(): the whole pages inside `[start, end)`, poisoned, to the page
/// allocator; prints `Freeing <what> memory: NK`.
pub(super) fn free_reserved_area<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    start: u64,
    end: u64,
    what: &str,
) -> Result<(), BootError> {
    let ps = A::PAGE_SHIFT;
    let (s, e) = (crate::addr::pfn_up(start, ps), crate::addr::pfn_down(end, ps));
    let freed = if s < e { pages.free_reserved_range(s, e, Some(POISON_FREE_INITMEM)) } else { 0 };
    writeln!(ctx.log, "Freeing {what} memory: {}K", freed << (ps - 10))?;
    Ok(())
}

/// free_kernel_image_pages(): image bytes `[off, off + len)` become read-write and
/// non-executable in every mapping of them (image mapping, linear alias), then go to the
/// page allocator, poisoned.
pub(super) fn free_image_range<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
    off: u64,
    len: u64,
    what: &str,
) -> Result<(), BootError> {
    use crate::protect::{set_memory, MemChange};
    let (Some(img), Some(root)) = (ctx.image, ctx.pgd) else { return Ok(()) };
    let n = len >> A::PAGE_SHIFT;
    if n == 0 {
        return Ok(());
    }
    let pa = img.pa + off;
    let mem = *ctx.memblock.mem();
    let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
    let layout = ctx.layout;
    {
        let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
        let mut vas = [layout.page_offset.wrapping_add(pa), 0];
        if let Some(m) = layout.image {
            vas[1] = m.va + off;
        }
        for va in vas {
            if va == 0 || pt.translate(VirtAddr(va)).is_none() {
                continue;
            }
            set_memory(&mut pt, &layout, VirtAddr(va), n, MemChange::Nx, &mut alloc, tlb)
                .map_err(BootError::PageTable)?;
            set_memory(&mut pt, &layout, VirtAddr(va), n, MemChange::Rw, &mut alloc, tlb)
                .map_err(BootError::PageTable)?;
        }
    }
    free_reserved_area(ctx, pages, pa, pa + len, what)
}

/// free_initmem(): the kernel image's init sections go to the page allocator (poisoned);
/// in the image mapping they become non-executable, or are unmapped where the arch asks
/// (their linear alias stays: the page allocator hands the pages out through it).
pub(super) fn free_initmem<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
    tlb: &mut impl crate::pgtable::TlbFlush,
) -> Result<(), BootError> {
    let (Some(img), Some((_, kend))) = (ctx.image, ctx.fw.kernel) else { return Ok(()) };
    let (off, len) = img.section(crate::protect::Section::Init);
    let init_start = img.pa.saturating_add(off);
    let init_end = init_start.saturating_add(len).min(kend);
    if len == 0 || init_start >= init_end {
        return Ok(());
    }
    free_reserved_area(ctx, pages, init_start, init_end, A::INITMEM_LABEL)?;
    if let (Some(mapped), Some(root)) = (ctx.layout.image, ctx.pgd) {
        let (va, n) = (mapped.va + off, (init_end - init_start) >> A::PAGE_SHIFT);
        let change = if A::INIT_IMAGE_UNMAP { crate::protect::MemChange::Np } else { crate::protect::MemChange::Nx };
        let mem = *ctx.memblock.mem();
        let mut pt = PageTable::<A::Paging, M>::from_root(&mem, root);
        let mut alloc = crate::early::MmAlloc::new(&mut ctx.memblock, Some(pages), 0);
        let layout = ctx.layout;
        crate::protect::set_memory(&mut pt, &layout, VirtAddr(va), n, change, &mut alloc, tlb)
            .map_err(BootError::PageTable)?;
    }
    Ok(())
}

/// free_initrd_mem(): the initrd, once unpacked, goes to the page allocator.
pub(super) fn free_initrd_mem<A: Arch, M: PhysMem + Copy>(
    ctx: &mut BootCtx<'_, A, M>,
    pages: &PageAlloc<A::Paging, M>,
) -> Result<(), BootError> {
    match ctx.fw.initrd {
        Some((s, e)) if e > s => free_reserved_area(ctx, pages, s, e, "initrd"),
        _ => Ok(()),
    }
}
