//! The bring-up on real hardware, then checks of its result on real memory.
//!
//! 1. archmm's bring-up ([`boot_on`]) with the arch's platform: the MMU runs on archmm's
//!    tables from paging_init on, and the bring-up prints Linux's lines on the console.
//! 2. Every free page: allocate all of them (largest blocks first, ignoring watermarks),
//!    write a per-page pattern through the linear map, verify every page, free them all,
//!    and check the allocator's free count is back where it was.
//! 3. A test range mapped with base pages, then with one block, at a kernel virtual address
//!    outside the linear map: written through that mapping, checked through the linear map,
//!    unmapped (with the arch's real TLB invalidation) and its tables freed: the page
//!    allocator's count must come back exactly.

use crate::arch::{self, Paging, A};
use crate::kmem::KernelMem;
use crate::println;
use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::arch::Arch;
use archmm::boot::{boot_on, BootOptions, FirmwareMap};
use archmm::buddy::{Gfp, PageAlloc};
use archmm::early::MmAlloc;
use archmm::memblock::Memblock;
use archmm::pgtable::{MapFlags, PageTable, PagingMode, Prot};
use archmm::physmem::PhysMem;

/// Why the self-test failed.
pub type Fail = &'static str;

/// Run the bring-up and the checks.
pub fn run(fw: FirmwareMap<'_>, options: BootOptions, hw: &mut arch::Hw) -> Result<(), Fail> {
    let mut log = crate::console::Console;
    let mut booted = match boot_on::<A, KernelMem>(KernelMem, fw, options, &mut log, hw) {
        Ok(b) => b,
        Err(e) => {
            println!("archmm-kernel: bring-up failed: {e}");
            return Err("the bring-up failed");
        }
    };
    println!("archmm-kernel: the bring-up used {} KiB of stack", crate::stack_used() >> 10);
    let root = booted.ctx.pgd.ok_or("no kernel page table")?;
    println!(
        "archmm-kernel: running on archmm's page tables (root {root:#x}), linear map at {:#x}: PAGE_OFFSET is pa {:#x}",
        A::PAGE_OFFSET,
        A::PAGE_OFFSET.wrapping_sub(booted.ctx.layout.page_offset) & A::KERNEL_VA_MASK
    );
    per_cpu_lists(&booted)?;
    every_free_page(&booted.pages)?;
    map_and_unmap(&mut booted.ctx.memblock, &booted.pages, root.0)?;
    crate::protect_test::run(&mut booted)?;
    crate::hotplug_test::run(&mut booted)?;
    Ok(())
}

/// Every zone's page lists for CPU 0 sit in CPU 0's per-CPU unit, and a page freed on
/// CPU 0 lands there.
fn per_cpu_lists(b: &archmm::boot::Booted<'_, A, KernelMem>) -> Result<(), Fail> {
    let areas = b.ctx.percpu.ok_or("no per-CPU areas")?;
    let chunk = b.pages.percpu().ok_or("the page lists are not in the per-CPU areas")?;
    let (unit, end) = (areas.unit_base[0], areas.unit_base[0] + areas.layout.size_sum);
    let mut zones = 0;
    for z in b.pages.zones() {
        let at = z.pageset.and_then(|p| chunk.addr(p, 0)).ok_or("a zone without per-CPU lists")?;
        if !(unit..end).contains(&at.0) {
            return Err("a zone's per-CPU lists lie outside CPU 0's unit");
        }
        zones += 1;
    }
    b.pages.drain_cpu(0);
    let pfn = b.pages.alloc(0, Gfp::KERNEL, 0, 0).map_err(|_| "no page")?;
    b.pages.free(0, pfn, 0).map_err(|_| "free failed")?;
    let cached = b.pages.pcp_pages();
    println!("archmm-kernel: per-CPU page lists of {zones} zones in CPU 0's unit [{unit:#x}-{:#x}]; a page freed on CPU 0 is cached there ({cached} pages cached)", end - 1);
    if b.pages.page_state(pfn) != archmm::buddy::PageState::PcpFree || cached == 0 {
        return Err("a freed page did not reach CPU 0's per-CPU list");
    }
    Ok(())
}

fn pattern(pfn: u64) -> u64 {
    pfn.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xa5a5_0000_0000_5a5a
}

fn free_now(pages: &PageAlloc<Paging, KernelMem>) -> u64 {
    pages.drain_cpu(0);
    pages.nr_free_pages()
}

/// Offsets inside a taken block's first page: the list link and the order.
const LINK: u64 = 0;
const ORDER: u64 = 16;
/// Where each page's pattern goes (its last word holds the complement).
const PAT: u64 = 8;

fn every_free_page(pages: &PageAlloc<Paging, KernelMem>) -> Result<(), Fail> {
    let mem = KernelMem;
    let (shift, psz) = (A::PAGE_SHIFT, A::page_size());
    let before = free_now(pages);
    let gfp = Gfp::HIGHUSER_MOVABLE.or(Gfp::MEMALLOC);
    let (mut head, mut taken, mut blocks) = (0u64, 0u64, 0u64);
    for order in (0..A::MAX_ORDER).rev() {
        while let Ok(pfn) = pages.alloc(0, gfp, order, 0) {
            for p in pfn..pfn + (1 << order) {
                mem.write_u64(PhysAddr((p << shift) + PAT), pattern(p));
                mem.write_u64(PhysAddr((p << shift) + psz - 8), !pattern(p));
            }
            mem.write_u64(PhysAddr((pfn << shift) + LINK), head);
            mem.write_u64(PhysAddr((pfn << shift) + ORDER), order as u64);
            head = pfn + 1;
            taken += 1 << order;
            blocks += 1;
        }
    }
    let left = pages.nr_free_pages() + pages.pcp_pages();
    println!(
        "archmm-kernel: took {taken} of {before} free pages in {blocks} blocks through the linear map ({left} left)"
    );
    if left != 0 || taken != before {
        return Err("the allocator did not hand out exactly its free pages");
    }
    let (mut bad, mut freed) = (0u64, 0u64);
    while let Some(pfn) = head.checked_sub(1) {
        let base = pfn << shift;
        head = mem.read_u64(PhysAddr(base + LINK));
        let order = mem.read_u64(PhysAddr(base + ORDER)) as u32;
        for p in pfn..pfn + (1 << order) {
            if mem.read_u64(PhysAddr((p << shift) + PAT)) != pattern(p)
                || mem.read_u64(PhysAddr((p << shift) + psz - 8)) != !pattern(p)
            {
                bad += 1;
            }
        }
        pages.free(0, pfn, order).map_err(|_| "freeing a taken block failed")?;
        freed += 1 << order;
    }
    let after = free_now(pages);
    println!("archmm-kernel: verified {taken} pages ({bad} bad), freed {freed}: {after} free pages");
    if bad != 0 {
        return Err("page contents did not survive");
    }
    if after != before {
        return Err("free page count did not come back");
    }
    Ok(())
}

fn map_and_unmap(
    memblock: &mut Memblock<KernelMem>,
    pages: &PageAlloc<Paging, KernelMem>,
    root: u64,
) -> Result<(), Fail> {
    let mem = KernelMem;
    let psz = A::page_size();
    // The smallest block above a base page (2 MiB with 4K pages).
    let block = Paging::LEVELS[Paging::LEVELS.len() - 2].span();
    let order = (block / psz).trailing_zeros();
    let before = free_now(pages);
    let pfn = pages.alloc(0, Gfp::KERNEL, order, 0).map_err(|_| "no block for the mapping test")?;
    let pa = pfn << A::PAGE_SHIFT;
    let va = arch::TEST_VA;
    let mut pt = PageTable::<Paging, KernelMem>::from_root(&mem, PhysAddr(root));
    let mut tlb = arch::Tlb;
    for (label, blocks) in [("base pages", false), ("one block", true)] {
        let mut alloc = MmAlloc::new(memblock, Some(pages), 0);
        pt.map(
            VirtAddr(va),
            PhysAddr(pa),
            block,
            Prot::KERNEL_RW,
            MapFlags { replace: false, blocks },
            &mut alloc,
            &mut tlb,
        )
        .map_err(|_| "map failed")?;
        arch::publish_mappings();
        let t = pt.translate(VirtAddr(va)).ok_or("the test range does not translate")?;
        let want = if blocks { block } else { psz };
        if t.size != want || t.pa != archmm::addr::PhysAddr(pa) {
            return Err("the test range is not mapped with the expected leaf size");
        }
        let tag = if blocks { 0xb10c } else { 0x4c };
        for i in 0..block / psz {
            let v = (va + i * psz + 24) as *mut u64;
            // SAFETY: `v` lies in the range just mapped read-write onto the block this test
            // owns; nothing else refers to that memory.
            unsafe { v.write_volatile(pattern(pfn + i) ^ tag) };
        }
        let mismatches =
            (0..block / psz).filter(|i| mem.read_u64(PhysAddr(pa + i * psz + 24)) != pattern(pfn + i) ^ tag).count();
        pt.unmap(VirtAddr(va), block, &mut alloc, &mut tlb).map_err(|_| "unmap failed")?;
        let gone = pt.translate(VirtAddr(va)).is_none();
        println!("archmm-kernel: mapped {} KiB at {va:#x} with {label}, wrote through it, {mismatches} mismatches via the linear map, unmapped: {}", block >> 10, if gone { "gone" } else { "STILL MAPPED" });
        if mismatches != 0 || !gone {
            return Err("the test mapping did not behave");
        }
    }
    pages.free(0, pfn, order).map_err(|_| "freeing the test block failed")?;
    let after = free_now(pages);
    println!("archmm-kernel: page-table pages and the test block returned: {after} free pages (before {before})");
    if after != before {
        return Err("a page-table page or the test block leaked");
    }
    Ok(())
}
