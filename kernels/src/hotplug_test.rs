//! Memory hotplug on a real MMU (issue 9, item 7).
//!
//! Before the bring-up, [`hold_back`] drops the highest memory block that lies wholly in
//! RAM from the firmware map, and all RAM above it, as Linux's `mem=` does (only RAM
//! entries are cut; reserved ones stay). After the boot self-tests, [`run`] drives archmm's
//! generic hotplug (`archmm::hotplug`) on that range:
//!
//! 1. `add`: arch_add_memory extends the live linear map (archmm's page-table engine, page
//!    tables and memmap from the page allocator); the new mappings are published to the
//!    MMU and every page of the range must translate to itself;
//! 2. `online` to ZONE_MOVABLE: the free page count grows by exactly the block's pages;
//! 3. movable allocations of mixed orders fill most of the block, each with a handle, and a
//!    pattern keyed by (handle, page) is written through the linear map;
//! 4. `offline` with those allocations live: every one migrates (the callback moves its
//!    handle's pfn), none is left in the block, and every pattern is intact at its new
//!    home;
//! 5. `remove`: the TLB is flushed for the range, no page of it translates, its memmap is
//!    gone, the page-table pages covering it are the ones there before the add, and once
//!    the allocations are freed the free page count, `totalram_pages()` and memblock's
//!    memory are what they were before the add.
//!
//! Each step prints an `archmm-kernel: hotplug: ...` line; any mismatch fails the kernel.
//! Arches whose Linux 6.1 has no memory hotplug (riscv64) hold nothing back and report the
//! typed refusal of [`Hotplug::new`].

use crate::arch::{self, Paging, A};
use crate::kmem::KernelMem;
use crate::println;
use crate::selftest::Fail;
use archmm::addr::PhysAddr;
use archmm::addr::VirtAddr;
use archmm::arch::Arch;
use archmm::boot::{Booted, FirmwareMap, MemBank};
use archmm::buddy::{Gfp, PageAlloc, PageState};
use archmm::firmware::e820::{E820Entry, E820Type};
use archmm::hotplug::{AddFlags, Hotplug, Migration, OnlineType};
use archmm::memblock::RegionType;
use archmm::pgtable::{PageTable, PagingMode, TlbFlush};
use archmm::physmem::PhysMem;
use archmm::zone::ZoneType;
use core::sync::atomic::{AtomicU64, Ordering};

/// RAM that must stay in the boot map for anything to be held back.
const MIN_KEEP: u64 = 192 << 20;
/// Firmware map entries the trimmed copy can hold.
const MAX_ENTRIES: usize = 128;
/// Movable allocations the fill can track.
const MAX_HANDLES: usize = 4096;
/// Allocation orders the fill cycles through.
const FILL_ORDERS: [u32; 7] = [0, 1, 2, 3, 4, 5, 6];

/// The range held back at boot: base and size (size 0: nothing).
static HELD: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Room for the trimmed firmware map (the caller keeps it alive as long as the map).
pub struct Storage {
    e820: [E820Entry; MAX_ENTRIES],
    banks: [MemBank; MAX_ENTRIES],
}

impl Storage {
    /// Empty storage.
    pub const fn new() -> Self {
        Storage {
            e820: [E820Entry::new(0, 0, E820Type(0)); MAX_ENTRIES],
            banks: [MemBank { base: 0, size: 0, nid: None, hotplug: false }; MAX_ENTRIES],
        }
    }
}

/// The smallest memory block the arch can have (MIN_MEMORY_BLOCK_SIZE: one section); the
/// run checks that the block size the booted machine computes divides the held range.
const fn hold_unit() -> u64 {
    1 << A::SECTION_SIZE_BITS
}

/// RAM ranges of the map, `[start, end)`.
fn ram_ranges<'a>(fw: &'a FirmwareMap<'_>) -> impl Iterator<Item = (u64, u64)> + 'a {
    let e = fw.e820.iter().filter(|e| e.ty == E820Type::RAM).map(|e| (e.addr, e.addr.saturating_add(e.size)));
    let b = fw.banks.iter().map(|b| (b.base, b.base.saturating_add(b.size)));
    e.chain(b).filter(|r| r.1 > r.0)
}

/// The highest block-sized, block-aligned range that lies wholly in one RAM range and
/// overlaps no other firmware entry, nor the image, device tree or initrd.
fn pick(fw: &FirmwareMap<'_>, unit: u64) -> Option<(u64, u64)> {
    let clash = |s: u64, e: u64| {
        let hit = |r: Option<(u64, u64)>| r.is_some_and(|(a, b)| a < e && b > s);
        fw.e820.iter().any(|x| x.ty != E820Type::RAM && x.size != 0 && x.addr < e && x.addr.saturating_add(x.size) > s)
            || fw.reserved.iter().any(|r| r.base < e && r.base.saturating_add(r.size) > s)
            || hit(fw.kernel)
            || hit(fw.dtb)
            || hit(fw.initrd)
    };
    ram_ranges(fw)
        .filter_map(|(s, e)| {
            let top = e & !(unit - 1);
            let base = top.checked_sub(unit)?;
            (base >= s && !clash(base, top)).then_some((base, top))
        })
        .max()
}

/// Hold the top memory block back from `fw`, as `mem=` would: RAM at and above the block's
/// base is cut from the map (copied into `st`); the block is added at run time by [`run`].
/// Returns `fw` unchanged when the arch has no memory hotplug, the machine is too small, or
/// no block qualifies (and says why).
pub fn hold_back<'a>(fw: FirmwareMap<'a>, st: &'a mut Storage) -> FirmwareMap<'a> {
    if !A::MEMORY_HOTPLUG {
        return fw;
    }
    let unit = hold_unit();
    let Some((base, end)) = pick(&fw, unit) else {
        println!("archmm-kernel: hotplug: no memory block of {} MiB lies wholly in RAM: nothing held back", unit >> 20);
        return fw;
    };
    let kept: u64 = ram_ranges(&fw).map(|(s, e)| e.min(base).saturating_sub(s)).sum();
    let dropped: u64 = ram_ranges(&fw).map(|(s, e)| e.saturating_sub(s.max(base))).sum();
    if kept < MIN_KEEP {
        println!(
            "archmm-kernel: hotplug: only {} MiB of RAM below [mem {base:#018x}-{:#018x}]: nothing held back",
            kept >> 20,
            end - 1
        );
        return fw;
    }
    if fw.e820.len() > MAX_ENTRIES || fw.banks.len() > MAX_ENTRIES {
        println!("archmm-kernel: hotplug: more than {MAX_ENTRIES} firmware entries: nothing held back");
        return fw;
    }
    let mut n = 0;
    for e in fw.e820 {
        let mut e = *e;
        if e.ty == E820Type::RAM {
            if e.addr >= base {
                continue;
            }
            e.size = e.size.min(base - e.addr);
        }
        st.e820[n] = e;
        n += 1;
    }
    let ne = n;
    n = 0;
    for b in fw.banks.iter().filter(|b| b.base < base) {
        st.banks[n] = MemBank { size: b.size.min(base - b.base), ..*b };
        n += 1;
    }
    HELD[0].store(base, Ordering::Relaxed);
    HELD[1].store(end - base, Ordering::Relaxed);
    println!(
        "archmm-kernel: hotplug: mem={base:#x}: {} MiB of RAM left out of the boot map, {} MiB kept",
        dropped >> 20,
        kept >> 20
    );
    println!("archmm-kernel: hotplug: held back [mem {base:#018x}-{:#018x}] to add at run time", end - 1);
    FirmwareMap { e820: &st.e820[..ne], banks: &st.banks[..n], ..fw }
}

fn free_now(pages: &PageAlloc<Paging, KernelMem>) -> u64 {
    for cpu in 0..pages.cpus() {
        pages.drain_cpu(cpu);
    }
    pages.nr_free_pages()
}

/// The word `k` of page `i` of the allocation with handle `h`.
fn pattern(h: u64, i: u64, k: u64) -> u64 {
    (h << 32 | i).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 0x5a5a
}

/// Offsets of the pattern words in each page.
fn offsets() -> [u64; 3] {
    let psz = A::page_size();
    [0, psz / 2 + 8, psz - 8]
}

/// Write (`check == false`) or count mismatches of (`check == true`) the pattern of the
/// allocation `h` at `pfn` of `order`, through the linear map.
fn fill(h: u64, pfn: u64, order: u32, check: bool) -> u64 {
    let mem = KernelMem;
    let mut bad = 0;
    for i in 0..1u64 << order {
        let page = (pfn + i) << A::PAGE_SHIFT;
        for (k, off) in offsets().into_iter().enumerate() {
            let (pa, want) = (PhysAddr(page + off), pattern(h, i, k as u64));
            if check {
                bad += u64::from(mem.read_u64(pa) != want);
            } else {
                mem.write_u64(pa, want);
            }
        }
    }
    bad
}

/// A tracked movable allocation: its head pfn (or 0: none) and order.
#[derive(Clone, Copy)]
struct Held {
    pfn: u64,
    order: u32,
}

/// Distinct page-table pages the walks of `[va, va + size)` pass through (one walk per
/// smallest block span).
fn table_pages(pt: &PageTable<Paging, KernelMem>, va: u64, size: u64) -> u64 {
    let step = Paging::LEVELS[Paging::LEVELS.len() - 2].span();
    let mut seen = [0u64; 256];
    let mut n = 0usize;
    let mut v = va;
    while v < va + size {
        let (steps, k) = pt.walk(VirtAddr(v));
        for s in steps[..k].iter().flatten() {
            if !seen[..n].contains(&s.table) && n < seen.len() {
                seen[n] = s.table;
                n += 1;
            }
        }
        v += step;
    }
    n as u64
}

/// The run-time hotplug cycle on the range [`hold_back`] kept out of the boot map.
pub fn run(b: &mut Booted<'_, A, KernelMem>) -> Result<(), Fail> {
    let mut hp = match Hotplug::new(b) {
        Ok(h) => h,
        Err(e) if !A::MEMORY_HOTPLUG => {
            println!("archmm-kernel: hotplug: skipped: {e}");
            return Ok(());
        }
        Err(e) => {
            println!("archmm-kernel: hotplug: Hotplug::new failed: {e}");
            return Err("memory hotplug did not start");
        }
    };
    let (base, size) = (HELD[0].load(Ordering::Relaxed), HELD[1].load(Ordering::Relaxed));
    if size == 0 {
        println!("archmm-kernel: hotplug: skipped: nothing was held back at boot");
        return Ok(());
    }
    let end = base + size;
    let bb = hp.block_size_bytes();
    if !base.is_multiple_of(bb) || !size.is_multiple_of(bb) {
        println!("archmm-kernel: hotplug: the held range is not made of memory blocks of {} MiB", bb >> 20);
        return Err("the held-back range does not fit the memory block size");
    }
    let root = b.ctx.pgd.ok_or("no kernel page table")?;
    let mem = KernelMem;
    let pt = PageTable::<Paging, KernelMem>::from_root(&mem, root);
    let page_offset = b.ctx.layout.page_offset;
    let va_of = |pa: u64| page_offset.wrapping_add(pa) & A::KERNEL_VA_MASK;
    let (va, va_end) = (va_of(base), va_of(end));
    let psz = A::page_size();
    let bp = hp.block_pages();
    let (s, e) = (base >> A::PAGE_SHIFT, end >> A::PAGE_SHIFT);
    let (first, last) = (s / bp, e / bp);

    // Before: the counts the cycle must come back to.
    let free0 = free_now(&b.pages);
    let total0 = b.pages.totalram_pages();
    let memblock0 = b.ctx.memblock.total_size(RegionType::Memory);
    let tables0 = table_pages(&pt, va, size);
    // Is the linear map in the page table (arm64, riscv64, x86_64), or a window the MMU
    // provides (loongarch64's DMW)? A boot page answers.
    let probe = b.pages.alloc(0, Gfp::KERNEL, 0, 0).map_err(|_| "no page for the linear-map probe")?;
    let in_table = pt
        .translate(VirtAddr(va_of(probe << A::PAGE_SHIFT)))
        .is_some_and(|t| t.pa == archmm::addr::PhysAddr(probe << A::PAGE_SHIFT));
    b.pages.free(0, probe, 0).map_err(|_| "freeing the probe page failed")?;
    if pt.translate(VirtAddr(va)).is_some() || pt.translate(VirtAddr(va_end - psz)).is_some() {
        return Err("the held-back range is already in the linear map");
    }
    println!(
        "archmm-kernel: hotplug: memory blocks of {} MiB; before the add: {free0} free pages, {total0} managed, {} MiB in memblock, {tables0} page-table pages cover {va:#x}..{va_end:#x}",
        bb >> 20,
        memblock0 >> 20
    );

    // 1. add.
    hp.add(b, PhysAddr(base), size, 0, AddFlags::default()).map_err(|e| {
        println!("archmm-kernel: hotplug: add failed: {e}");
        "hot-add failed"
    })?;
    arch::publish_mappings();
    let free1 = free_now(&b.pages);
    let tables1 = table_pages(&pt, va, size);
    for id in first..last {
        if hp.block(id).is_none_or(|k| k.online || !k.hot) {
            return Err("the added block is not an offline hot-added block");
        }
    }
    let mut leaf = 0;
    let mut wrong = 0u64;
    let mut p = base;
    while p < end {
        match pt.translate(VirtAddr(va_of(p))) {
            Some(t) if t.pa == archmm::addr::PhysAddr(p) => {
                leaf = leaf.max(t.size);
                p += t.size - (va_of(p) & (t.size - 1));
            }
            Some(_) => {
                wrong += 1;
                p += psz;
            }
            None => {
                if in_table {
                    wrong += 1;
                }
                p += psz;
            }
        }
    }
    if wrong != 0 {
        println!("archmm-kernel: hotplug: {wrong} pages of the added range do not translate to themselves");
        return Err("arch_add_memory did not map the range");
    }
    if in_table {
        println!(
            "archmm-kernel: hotplug: added [mem {base:#018x}-{:#018x}] as memory{first}..{}: linear map {va:#x} maps it with {} KiB leaves, {tables1} page-table pages (before {tables0}); memmap and tables took {} pages",
            end - 1,
            last - 1,
            leaf >> 10,
            free0 - free1
        );
    } else {
        println!(
            "archmm-kernel: hotplug: added [mem {base:#018x}-{:#018x}] as memory{first}..{}: the linear map is the MMU's window at {:#x}, no page table entries; memmap took {} pages",
            end - 1,
            last - 1,
            KernelMem::va(base),
            free0 - free1
        );
    }

    // 2. online to ZONE_MOVABLE.
    for id in first..last {
        let z = hp.online(b, id, OnlineType::Movable).map_err(|e| {
            println!("archmm-kernel: hotplug: online of memory{id} failed: {e}");
            "online failed"
        })?;
        if z != ZoneType::Movable {
            return Err("the block was not onlined to ZONE_MOVABLE");
        }
    }
    let free2 = free_now(&b.pages);
    println!("archmm-kernel: hotplug: onlined memory{first}..{} to Movable: {free2} free pages ({} more; the blocks have {})", last - 1, free2 - free1, e - s);
    if free2 != free1 + (e - s) || b.pages.totalram_pages() != total0 + (e - s) {
        return Err("onlining did not add exactly the block's pages");
    }

    // 3. Fill through the linear map with movable allocations.
    // Most of the block, but no more than half of the free boot memory that must take the
    // migrated pages.
    let target = ((e - s) - (e - s) / 8).min(free1 / 2);
    let mut held = [Held { pfn: 0, order: 0 }; MAX_HANDLES];
    let (mut n, mut taken, mut outside) = (0usize, 0u64, 0u64);
    while taken < target && n < MAX_HANDLES {
        let order = FILL_ORDERS[n % FILL_ORDERS.len()];
        let Ok(pfn) = b.pages.alloc(0, Gfp::HIGHUSER_MOVABLE, order, 0) else { break };
        let h = n as u64 + 1;
        if !b.pages.set_private(pfn, h) {
            return Err("set_private refused a fresh allocation");
        }
        held[n] = Held { pfn, order };
        fill(h, pfn, order, false);
        if pfn < s || pfn >= e {
            outside += 1 << order;
        }
        taken += 1 << order;
        n += 1;
    }
    let bad: u64 = held[..n].iter().enumerate().map(|(i, x)| fill(i as u64 + 1, x.pfn, x.order, true)).sum();
    println!("archmm-kernel: hotplug: {n} movable allocations of orders 0..6 took {taken} pages ({} of the block's {}, {outside} elsewhere), patterns written through the linear map, {bad} bad", taken - outside, e - s);
    if taken < target || outside != 0 || bad != 0 {
        return Err("the movable fill did not land in the new block");
    }

    // 4. offline with the allocations live: every one must migrate.
    let free3 = free_now(&b.pages);
    let (mut moved, mut misplaced) = (0u64, 0u64);
    for id in first..last {
        let mut on_move = |m: Migration| {
            let slot = m
                .handle
                .checked_sub(1)
                .and_then(|i| held.get_mut(i as usize))
                .filter(|x| x.pfn == m.old_pfn && x.order == m.order);
            match slot {
                Some(x) => {
                    x.pfn = m.new_pfn;
                    moved += 1;
                }
                None => misplaced += 1,
            }
        };
        let st = hp.offline(b, id, &mut on_move).map_err(|e| {
            println!("archmm-kernel: hotplug: offline of memory{id} failed: {e}");
            "offline failed"
        })?;
        println!(
            "archmm-kernel: hotplug: offlined memory{id}: {} free pages isolated, {} pages migrated",
            st.isolated, st.migrated
        );
        if st.isolated + st.migrated != bp {
            return Err("offline did not account for every page of the block");
        }
    }
    let free4 = free_now(&b.pages);
    let left = held[..n].iter().filter(|x| x.pfn >= s && x.pfn < e).count();
    let not_alloc = held[..n].iter().filter(|x| b.pages.page_state(x.pfn) != PageState::Allocated).count();
    let bad: u64 = held[..n].iter().enumerate().map(|(i, x)| fill(i as u64 + 1, x.pfn, x.order, true)).sum();
    println!(
        "archmm-kernel: hotplug: {moved} of {n} allocations migrated through the callback ({misplaced} unknown handles, {left} left in the block), {bad} bad pattern words at their new homes; {free4} free pages"
    );
    if moved != n as u64 || misplaced != 0 || left != 0 || not_alloc != 0 || bad != 0 {
        return Err("movable data did not survive the offline");
    }
    // The block's free pages were isolated and each migration took a page elsewhere.
    if free4 + (e - s) != free3 || b.pages.totalram_pages() != total0 {
        return Err("offline left the free or managed counts wrong");
    }
    if b.pages.zones().any(|z| z.kind == ZoneType::Movable && (z.present != 0 || z.spanned != 0)) {
        return Err("ZONE_MOVABLE still spans memory after the offline");
    }

    // 5. remove; the TLB forgets the range before anything reuses the freed tables.
    hp.remove(b, PhysAddr(base), size, &mut arch::Tlb).map_err(|e| {
        println!("archmm-kernel: hotplug: remove failed: {e}");
        "remove failed"
    })?;
    arch::Tlb.flush_range(va, va_end);
    let mut mapped = 0u64;
    let mut with_memmap = 0u64;
    let mut p = base;
    while p < end {
        mapped += u64::from(pt.translate(VirtAddr(va_of(p))).is_some());
        with_memmap += u64::from(b.pages.page_state(p >> A::PAGE_SHIFT) != PageState::Absent);
        p += psz;
    }
    // On the real MMU, a load from the removed range now faults (LoongArch's linear map is
    // a hardware window: nothing to check there).
    let fault = match &arch::PROBES {
        Ok(pr) => match pr.read(va + size / 2) {
            Ok(_) => return Err("a load from the removed range did not fault"),
            Err(f) => Some(f),
        },
        Err(_) => None,
    };
    if let Some(f) = fault {
        println!(
            "archmm-kernel: hotplug: a load from the removed range faulted (cause {:#x} at {:#x})",
            f.cause, f.addr
        );
    }
    let tables5 = table_pages(&pt, va, size);
    let gone = (first..last).all(|id| hp.block(id).is_none());
    for x in &held[..n] {
        b.pages.free(0, x.pfn, x.order).map_err(|_| "freeing a migrated allocation failed")?;
    }
    let free5 = free_now(&b.pages);
    let (total5, memblock5) = (b.pages.totalram_pages(), b.ctx.memblock.total_size(RegionType::Memory));
    println!(
        "archmm-kernel: hotplug: removed [mem {base:#018x}-{:#018x}]: {mapped} of its pages translate, {with_memmap} have a memmap, {tables5} page-table pages cover it (before the add {tables0}); allocations freed: {free5} free pages (before {free0}), {total5} managed (before {total0}), {} MiB in memblock (before {})",
        end - 1,
        memblock5 >> 20,
        memblock0 >> 20
    );
    if mapped != 0 || with_memmap != 0 || !gone {
        return Err("the removed range is still mapped or described");
    }
    if tables5 != tables0 || free5 != free0 || total5 != total0 || memblock5 != memblock0 {
        return Err("hotplug leaked pages: the counts did not come back");
    }
    Ok(())
}
