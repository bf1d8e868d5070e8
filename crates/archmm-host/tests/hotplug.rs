//! Memory hotplug on the host emulator: random add/online/offline/remove/alloc/free
//! sequences in every mode with hotplug, audited after every step; refusals change
//! nothing; migration keeps contents; removal leaves no mapping and no table behind.

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::{arm64::Arm64G, loongarch64::LoongArch, powerpc::Ppc64, s390::S390, x86_64::X86, Arch, ArchId};
use archmm::boot::BootOptions;
use archmm::pgtable::PageTable;
use archmm_host::backing::SparseMem;
use archmm_host::hotplug_script::{boot_session, Session};
use archmm_host::machine::Machine;
use proptest::prelude::*;

fn machine(arch: ArchId, mem: u64) -> Machine {
    Machine::qemu(arch, mem, 1, None).expect("machine")
}

/// First address above memory aligned to `align`, where blocks are hot-added.
fn hot_base<A: Arch>(s: &Session<'_, A>) -> u64 {
    let bb = s.hp.block_size_bytes();
    let align = bb.max(1 << 30);
    s.b.ctx.memblock.end_of_dram().div_ceil(align) * align
}

/// Page-table pages reachable from the kernel root.
fn table_pages<A: Arch>(s: &Session<'_, A>) -> u64 {
    let Some(root) = s.b.ctx.pgd else { return 0 };
    let mem = *s.b.pages.mem();
    fn walk<Mo: archmm::pgtable::PagingMode>(mem: &SparseMem, t: u64, level: usize) -> u64 {
        let mut n = 1;
        if level + 1 < Mo::LEVELS.len() {
            for i in 0..Mo::LEVELS[level].entries() {
                let raw = archmm::physmem::PhysMem::read_u64(mem, PhysAddr(t + i * Mo::ENTRY_SIZE));
                if let archmm::pgtable::Entry::Table(c) = Mo::decode(raw, level) {
                    n += walk::<Mo>(mem, c, level + 1);
                }
            }
        }
        n
    }
    walk::<A::Paging>(mem, root.0, 0)
}

/// Random steps on one mode; every step is audited.
fn random_steps<A: Arch>(arch: ArchId, mem_size: u64, ops: &[(u8, u64, u64)]) {
    let mem = SparseMem::new();
    let m = machine(arch, mem_size);
    let mut log = String::new();
    let mut s = boot_session::<A>(&mem, &m, BootOptions { cpus: 2, ..Default::default() }, &mut log).expect("boot");
    let bb = s.hp.block_size_bytes();
    let base = hot_base(&s);
    let bp = s.hp.block_pages();
    let first = base / bb;
    // Two boot blocks in the middle of boot memory (memblock's allocations sit at the top):
    // boot memory goes offline and comes back, maybe in another zone, inside the span of
    // its old one (zones overlap as Linux lets them).
    let boot_mid = (s.b.ctx.memblock.end_of_dram() / bb / 2).max(1);
    s.audit().expect("audit after boot");
    for &(op, x, y) in ops {
        let blk = if x % 5 == 4 { boot_mid + (y >> 40) % 2 } else { first + x % 4 };
        let line = match op % 9 {
            0 | 1 => format!("add {:#x} {:#x}", blk * bb, bb * (1 + y % 2)),
            2 => format!("online {blk} {}", ["kernel", "movable", "online"][(y % 3) as usize]),
            3 => format!("offline {blk}"),
            4 => format!("remove {:#x} {:#x}", blk * bb, bb),
            5 | 6 => format!("alloc {} {}", y % 4, if x % 3 == 0 { "" } else { "movable" }),
            7 => format!("free {}", 1 + y % 16),
            _ => {
                let held = s.held();
                match held.get((y as usize) % held.len().max(1)) {
                    Some(h) => format!("check {} {}", h.0, h.0 as u8),
                    None => "show".into(),
                }
            }
        };
        let before = s.snapshot();
        let r = s.call(&line);
        if line.starts_with("alloc") {
            if let Ok(out) = &r {
                let h: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
                s.call(&format!("write {h} {}", h as u8)).unwrap();
            }
        }
        if let Err(e) = &r {
            // A refused call changes nothing (except a failed migration, which may move pages).
            if !e.contains("out of memory") {
                assert_eq!(before, s.snapshot(), "{}: `{line}` refused ({e}) but changed state", A::NAME);
            }
        }
        if let Err(e) = s.audit() {
            panic!("{} ({}): after `{line}` -> {r:?}: {e}", A::NAME, <A::Paging as archmm::pgtable::PagingMode>::NAME);
        }
    }
    // Every movable allocation still has its contents wherever it lives now.
    for (h, _, _, _) in s.held() {
        s.call(&format!("check {h} {}", h as u8)).unwrap();
    }
    let _ = bp;
}

fn ops() -> impl Strategy<Value = Vec<(u8, u64, u64)>> {
    proptest::collection::vec((any::<u8>(), any::<u64>(), any::<u64>()), 60..120)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn x86_64_random_hotplug(o in ops()) { random_steps::<X86<false>>(ArchId::X86_64, 1 << 30, &o); }
    #[test]
    fn x86_64_5level_random_hotplug(o in ops()) { random_steps::<X86<true>>(ArchId::X86_64, 1 << 30, &o); }
    #[test]
    fn arm64_random_hotplug(o in ops()) { random_steps::<Arm64G<4, 48>>(ArchId::Arm64, 1 << 30, &o); }
    #[test]
    fn arm64_64k_random_hotplug(o in ops()) { random_steps::<Arm64G<64, 48>>(ArchId::Arm64, 2 << 30, &o); }
    #[test]
    fn s390_random_hotplug(o in ops()) { random_steps::<S390<3>>(ArchId::S390, 1 << 30, &o); }
    #[test]
    fn powerpc_random_hotplug(o in ops()) { random_steps::<Ppc64<12>>(ArchId::Powerpc, 1 << 30, &o); }
    #[test]
    fn powerpc_64k_random_hotplug(o in ops()) { random_steps::<Ppc64<16>>(ArchId::Powerpc, 1 << 30, &o); }
    #[test]
    fn loongarch64_random_hotplug(o in ops()) { random_steps::<LoongArch<14, 3>>(ArchId::Loongarch64, 1 << 30, &o); }
    #[test]
    fn loongarch64_4k_random_hotplug(o in ops()) { random_steps::<LoongArch<12, 4>>(ArchId::Loongarch64, 1 << 30, &o); }
    #[test]
    fn arm64_4k_39_random_hotplug(o in ops()) { random_steps::<Arm64G<4, 39>>(ArchId::Arm64, 1 << 30, &o); }
    #[test]
    fn arm64_16k_36_random_hotplug(o in ops()) { random_steps::<Arm64G<16, 36>>(ArchId::Arm64, 1 << 30, &o); }
    #[test]
    fn arm64_16k_47_random_hotplug(o in ops()) { random_steps::<Arm64G<16, 47>>(ArchId::Arm64, 1 << 30, &o); }
    #[test]
    fn arm64_16k_48_random_hotplug(o in ops()) { random_steps::<Arm64G<16, 48>>(ArchId::Arm64, 1 << 30, &o); }
    #[test]
    fn arm64_64k_42_random_hotplug(o in ops()) { random_steps::<Arm64G<64, 42>>(ArchId::Arm64, 2 << 30, &o); }
    #[test]
    fn arm64_64k_52_random_hotplug(o in ops()) { random_steps::<Arm64G<64, 52>>(ArchId::Arm64, 2 << 30, &o); }
    #[test]
    fn s390_4level_random_hotplug(o in ops()) { random_steps::<S390<4>>(ArchId::S390, 1 << 30, &o); }
    #[test]
    fn s390_5level_random_hotplug(o in ops()) { random_steps::<S390<5>>(ArchId::S390, 1 << 30, &o); }

    /// Hostile scripts: random tokens never panic, and the machine stays consistent.
    #[test]
    fn hostile_lines_never_panic(lines in proptest::collection::vec(
        (prop::sample::select(vec!["add", "online", "offline", "remove", "alloc", "free", "write", "check", "show", "policy", "movable_node", "bogus", ""]),
         proptest::collection::vec(prop::sample::select(vec!["0", "1", "72", "73", "0x240000000", "128M", "256M", "-1", "0xffffffffffffffff", "18446744073709551615", "99999999999999999999", "kernel", "movable", "x", "on", "auto-movable", "0x1000", "3G", "memmap_on_memory", "driver_managed", "1T"]), 0..4)), 1..40)) {
        let mem = SparseMem::new();
        let m = machine(ArchId::X86_64, 512 << 20);
        let mut log = String::new();
        let mut s = boot_session::<X86<false>>(&mem, &m, BootOptions::default(), &mut log).unwrap();
        for (cmd, args) in lines {
            let line = format!("{cmd} {}", args.join(" "));
            let _ = s.call(&line);
            prop_assert!(s.audit().is_ok(), "after `{}`: {:?}", line, s.audit());
        }
    }
}

/// Offline with an unmovable page: refused, nothing changed. With only movable pages it
/// succeeds and the data is intact at the new homes.
#[test]
fn offline_refuses_unmovable_and_migrates_movable() {
    let mem = SparseMem::new();
    let m = machine(ArchId::X86_64, 1 << 30);
    let mut log = String::new();
    let mut s = boot_session::<X86<false>>(&mem, &m, BootOptions::default(), &mut log).unwrap();
    let base = hot_base(&s);
    let id = base / s.hp.block_size_bytes();
    s.call(&format!("add {base:#x} 128M")).unwrap();
    s.call(&format!("online {id} kernel")).unwrap();
    // Fill the rest of memory so allocations land in the new block.
    let mut handles = Vec::new();
    while handles.len() < 100_000 {
        let out = s.call("alloc 9 movable");
        let Ok(out) = out else { break };
        let h: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let pfn = u64::from_str_radix(out.split_whitespace().nth(3).unwrap().trim_start_matches("0x"), 16).unwrap();
        handles.push((h, pfn));
        if pfn >= base >> 12 {
            break;
        }
    }
    let (hm, pm) = *handles.last().unwrap();
    assert!(pm >= base >> 12, "a movable allocation lands in the new block");
    s.call(&format!("write {hm} 42")).unwrap();
    // Free the boot allocations so migration has somewhere to go.
    for (h, _) in &handles[..handles.len() - 1] {
        s.call(&format!("free {h}")).unwrap();
    }
    // An unmovable page in the block: find one by allocating until it lands there.
    let mut unmovable = None;
    for _ in 0..300_000 {
        let out = s.call("alloc 0").unwrap();
        let h: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let pfn = u64::from_str_radix(out.split_whitespace().nth(3).unwrap().trim_start_matches("0x"), 16).unwrap();
        if pfn >= base >> 12 {
            unmovable = Some(h);
            break;
        }
    }
    let hu = unmovable.expect("an unmovable page in the block");
    let before = s.snapshot();
    let e = s.call(&format!("offline {id}")).unwrap_err();
    assert!(e.contains("busy"), "{e}");
    assert_eq!(before, s.snapshot(), "refused offline changed nothing");
    s.call(&format!("free {hu}")).unwrap();
    s.audit().unwrap();
    // Free some of the unmovable pages elsewhere too; the offline now migrates.
    let out = s.call(&format!("offline {id}")).unwrap();
    assert!(!out.contains(" 0 migrated"), "{out}");
    let held = s.held();
    let (_, newpfn, _, _) = held.iter().find(|x| x.0 == hm).copied().unwrap();
    assert!(newpfn < base >> 12, "moved out of the block");
    s.call(&format!("check {hm} 42")).unwrap();
    s.audit().unwrap();
}

/// After remove: no linear-map or vmemmap entry for the range, and the page-table pages
/// and allocated pages are what they were before the add.
#[test]
fn remove_leaves_no_mapping_and_no_table() {
    fn check<A: Arch>(arch: ArchId, mem_size: u64, memmap_on_memory: bool) {
        let mem = SparseMem::new();
        let m = machine(arch, mem_size);
        let mut log = String::new();
        let mut s = boot_session::<A>(&mem, &m, BootOptions::default(), &mut log).unwrap();
        let bb = s.hp.block_size_bytes();
        let base = hot_base(&s);
        let id = base / bb;
        let tables = table_pages(&s);
        let free = s.b.pages.nr_free_pages() + s.b.pages.pcp_pages();
        let extra = if memmap_on_memory { " 0 memmap_on_memory" } else { "" };
        s.call(&format!("add {base:#x} {bb:#x}{extra}")).unwrap();
        let va = s.b.ctx.layout.page_offset.wrapping_add(base) & A::KERNEL_VA_MASK;
        let memref = &mem;
        let pt = s.b.ctx.pgd.map(|r| PageTable::<A::Paging, &SparseMem>::from_root(&memref, r));
        if let Some(pt) = &pt {
            if A::NAME != "loongarch64" {
                assert!(pt.translate(VirtAddr(va)).is_some(), "{}: linear map of the new memory", A::NAME);
            }
        }
        s.call(&format!("online {id} movable")).unwrap();
        s.audit().unwrap();
        s.call(&format!("offline {id}")).unwrap();
        s.call(&format!("remove {base:#x} {bb:#x}")).unwrap();
        s.audit().unwrap();
        if let Some(pt) = &pt {
            let mut leaves = 0;
            pt.for_each_leaf(VirtAddr(va), bb, |_, _, _, _| leaves += 1);
            assert_eq!(leaves, 0, "{}: linear map entries left", A::NAME);
            if s.b.ctx.model.model == archmm::arch::MemoryModel::SparseVmemmap {
                let (vs, ve) = s.b.pages.memmap().vmemmap_span(base >> A::PAGE_SHIFT, (base + bb) >> A::PAGE_SHIFT);
                let mut vl = 0;
                pt.for_each_leaf(VirtAddr(vs), ve - vs, |_, _, _, _| vl += 1);
                assert_eq!(vl, 0, "{}: vmemmap entries left", A::NAME);
            }
        }
        let p = base >> A::PAGE_SHIFT;
        assert_eq!(s.b.pages.page_state(p), archmm::buddy::PageState::Absent);
        assert_eq!(table_pages(&s), tables, "{}: page-table pages leaked", A::NAME);
        assert_eq!(s.b.pages.nr_free_pages() + s.b.pages.pcp_pages(), free, "{}: pages leaked", A::NAME);
    }
    check::<X86<false>>(ArchId::X86_64, 1 << 30, false);
    check::<X86<false>>(ArchId::X86_64, 1 << 30, true);
    check::<X86<true>>(ArchId::X86_64, 1 << 30, false);
    check::<Arm64G<4, 48>>(ArchId::Arm64, 1 << 30, false);
    check::<Arm64G<4, 48>>(ArchId::Arm64, 1 << 30, true);
    check::<Arm64G<64, 48>>(ArchId::Arm64, 2 << 30, false);
    check::<S390<3>>(ArchId::S390, 1 << 30, false);
    check::<Ppc64<12>>(ArchId::Powerpc, 1 << 30, false);
    check::<Ppc64<12>>(ArchId::Powerpc, 1 << 30, true);
    check::<Ppc64<16>>(ArchId::Powerpc, 1 << 30, false);
    check::<Ppc64<16>>(ArchId::Powerpc, 1 << 30, true);
    check::<LoongArch<14, 3>>(ArchId::Loongarch64, 1 << 30, false);
}

/// Page-table pages reachable from the kernel root (their physical addresses).
fn table_addrs<A: Arch>(s: &Session<'_, A>) -> Vec<u64> {
    let Some(root) = s.b.ctx.pgd else { return Vec::new() };
    let mem = *s.b.pages.mem();
    fn walk<Mo: archmm::pgtable::PagingMode>(mem: &SparseMem, t: u64, level: usize, out: &mut Vec<u64>) {
        out.push(t);
        if level + 1 < Mo::LEVELS.len() {
            for i in 0..Mo::LEVELS[level].entries() {
                let raw = archmm::physmem::PhysMem::read_u64(mem, PhysAddr(t + i * Mo::ENTRY_SIZE));
                if let archmm::pgtable::Entry::Table(c) = Mo::decode(raw, level) {
                    walk::<Mo>(mem, c, level + 1, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk::<A::Paging>(mem, root.0, 0, &mut out);
    out
}

/// Regression (the 64K powerpc free-count corruption): boot carves 256-byte PTE tables
/// from shared memblock pages; mark_rodata_ro() collapses one of them and frees it after the
/// hand-off. MmAlloc::free used to round the piece up to its page and give that page to the
/// buddy allocator while live tables of the kernel map sat in it: the next allocation
/// overwrote them. No page holding a live table may be free, before or after hotplug.
#[test]
fn live_page_tables_are_never_free_pages() {
    fn check<A: Arch>(arch: ArchId, mem_size: u64) {
        let mem = SparseMem::new();
        let m = machine(arch, mem_size);
        let mut log = String::new();
        let mut s = boot_session::<A>(&mem, &m, BootOptions { cpus: 2, ..Default::default() }, &mut log).unwrap();
        let verify = |s: &Session<'_, A>, when: &str| {
            for t in table_addrs(s) {
                let st = s.b.pages.page_state(t >> A::PAGE_SHIFT);
                assert!(
                    matches!(st, archmm::buddy::PageState::Reserved | archmm::buddy::PageState::Allocated),
                    "{} {when}: table {t:#x} lives in a page that is {st:?}",
                    <A::Paging as archmm::pgtable::PagingMode>::NAME
                );
            }
        };
        verify(&s, "after boot");
        let bb = s.hp.block_size_bytes();
        let base = hot_base(&s);
        s.call(&format!("add {base:#x} {bb:#x}")).unwrap();
        s.call(&format!("online {} movable", base / bb)).unwrap();
        // Allocate everything that is free: a page holding a live table must not be among it.
        while s.call("alloc 0 movable").is_ok() {}
        verify(&s, "with all memory allocated");
        s.audit().unwrap();
    }
    check::<Ppc64<16>>(ArchId::Powerpc, 1 << 30);
    check::<Ppc64<12>>(ArchId::Powerpc, 1 << 30);
    check::<S390<3>>(ArchId::S390, 1 << 30);
    check::<Arm64G<64, 48>>(ArchId::Arm64, 2 << 30);
}

/// Regression (powerpc vmemmap left mapped after remove): boot's vmemmap used a PMD block
/// wherever a section needed one; with 64K pages a 2M block of metadata describes 4 GiB,
/// so boot memory's block also covered the memmap of memory hot-added above it, which then
/// shared it and could not be unmapped on remove. Boot now maps no vmemmap beyond the end
/// of memory, in every mode.
#[test]
fn boot_vmemmap_stops_at_the_end_of_memory() {
    fn check<A: Arch>(arch: ArchId, mem_size: u64) {
        let mem = SparseMem::new();
        let m = machine(arch, mem_size);
        let mut log = String::new();
        let s = boot_session::<A>(&mem, &m, BootOptions::default(), &mut log).unwrap();
        if s.b.ctx.model.model != archmm::arch::MemoryModel::SparseVmemmap {
            return;
        }
        let memref = &mem;
        let pt = PageTable::<A::Paging, &SparseMem>::from_root(&memref, s.b.ctx.pgd.unwrap());
        let end = archmm::addr::pfn_up(s.b.ctx.memblock.end_of_dram(), A::PAGE_SHIFT);
        let pps = s.b.pages.memmap().geometry().pages_per_section();
        let (vs, _) = s.b.pages.memmap().vmemmap_span(end, end);
        // The first byte of metadata past the last page of memory's vmemmap page.
        let page = 1u64 << A::PAGE_SHIFT;
        let from = vs.div_ceil(page) * page;
        let (_, ve) = s.b.pages.memmap().vmemmap_span(end, (end / pps + 64) * pps);
        let mut leaves = Vec::new();
        pt.for_each_leaf(VirtAddr(from), ve - from, |va, size, _, _| leaves.push((va, size)));
        assert!(
            leaves.is_empty(),
            "{}: vmemmap beyond the end of memory: {leaves:x?}",
            <A::Paging as archmm::pgtable::PagingMode>::NAME
        );
    }
    check::<Ppc64<16>>(ArchId::Powerpc, 1 << 30);
    check::<Ppc64<12>>(ArchId::Powerpc, 1 << 30);
    check::<X86<false>>(ArchId::X86_64, 1 << 30);
    check::<Arm64G<4, 48>>(ArchId::Arm64, 1 << 30);
    check::<S390<3>>(ArchId::S390, 1 << 30);
}

/// Arches whose Linux 6.1 has no memory hotplug refuse with a typed error.
#[test]
fn arches_without_hotplug_refuse() {
    for arch in [ArchId::Riscv64, ArchId::I386, ArchId::Arm] {
        let m = machine(arch, 1 << 30);
        let e = archmm_host::hotplug_script::run(arch, None, &m, BootOptions::default(), "show").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
    }
}

/// memory_block_size_bytes() as each arch's Linux computes it.
#[test]
fn memory_block_sizes_follow_linux() {
    use archmm::arch::s390::memory_block_size as s390_memory_block_size;
    use archmm::arch::x86_64::probe_memory_block_size as x86_probe_memory_block_size;
    assert_eq!(x86_probe_memory_block_size(8 << 30, 128 << 20), 128 << 20);
    assert_eq!(x86_probe_memory_block_size(64 << 30, 128 << 20), 2 << 30);
    assert_eq!(x86_probe_memory_block_size((64 << 30) + (256 << 20), 128 << 20), 256 << 20);
    assert_eq!(s390_memory_block_size(8 << 30, 256 << 20), 256 << 20);
    assert_eq!(s390_memory_block_size(1 << 40, 256 << 20), 2 << 30);
    let out = archmm_host::hotplug_script::run(
        ArchId::Arm64,
        Some("arm64-64k-48"),
        &machine(ArchId::Arm64, 2 << 30),
        BootOptions::default(),
        "show",
    )
    .unwrap();
    assert_eq!(out.block_size, 512 << 20);
    let out = archmm_host::hotplug_script::run(
        ArchId::Powerpc,
        None,
        &machine(ArchId::Powerpc, 1 << 30),
        BootOptions::default(),
        "show",
    )
    .unwrap();
    assert_eq!(out.block_size, 16 << 20, "pseries: one /memory@0 node, so one 16 MiB section");
}

/// arch_add_memory extends the live linear map in place, as x86's phys_pud_init() descends
/// into an existing PMD table: adding the last 128 MiB of a 1 GiB region whose boot part is
/// mapped with 2 MiB leaves keeps that table (collapsing it into a 1 GiB leaf would change
/// live translations and free a table the MMU may cache, with nobody flushing), and
/// remove leaves the tables as they were. (The x86_64 QEMU kernel at 5 GiB does exactly
/// this add.)
#[test]
fn add_keeps_the_live_tables() {
    let e820 = "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n\
                BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n\
                BIOS-e820: [mem 0x0000000100000000-0x0000000177ffffff] usable";
    let m = Machine::from_e820_text(e820, archmm::arch::ArchId::X86_64).expect("e820");
    let mem = SparseMem::new();
    let mut log = String::new();
    let mut s = boot_session::<X86<false>>(&mem, &m, BootOptions::default(), &mut log).unwrap();
    let (base, size) = (0x1_7800_0000u64, 128u64 << 20);
    assert_eq!(s.hp.block_size_bytes(), size);
    let va = |pa: u64| s.b.ctx.layout.page_offset.wrapping_add(pa);
    let (boot_va, new_va) = (va(0x1_4000_0000), va(base));
    let memref = &mem;
    let pt = PageTable::<<X86<false> as Arch>::Paging, &SparseMem>::from_root(&memref, s.b.ctx.pgd.unwrap());
    assert_eq!(pt.translate(VirtAddr(boot_va)).map(|t| t.size), Some(2 << 20));
    let tables = table_pages(&s);
    s.call(&format!("add {base:#x} {size:#x}")).unwrap();
    assert_eq!(pt.translate(VirtAddr(boot_va)).map(|t| t.size), Some(2 << 20), "the boot mapping changed");
    assert_eq!(pt.translate(VirtAddr(new_va)).map(|t| (t.pa.0, t.size)), Some((base, 2 << 20)));
    assert_eq!(table_pages(&s), tables, "the add created or freed a table");
    s.call("online 47 movable").unwrap();
    s.call("offline 47").unwrap();
    s.call(&format!("remove {base:#x} {size:#x}")).unwrap();
    s.audit().unwrap();
    assert!(pt.translate(VirtAddr(new_va)).is_none());
    assert_eq!(pt.translate(VirtAddr(boot_va)).map(|t| t.size), Some(2 << 20));
    assert_eq!(table_pages(&s), tables);
}

/// Boot memory goes offline and comes back in ZONE_MOVABLE inside DMA32's span: the zones
/// overlap, as Linux 6.1 lets them. Pages keep to their own zone (the audit checks every
/// block head's zone link against its memory block), buddies never merge across zones, and
/// migrated data survives.
#[test]
fn boot_memory_can_move_to_an_overlapping_zone() {
    let mem = SparseMem::new();
    let m = machine(ArchId::X86_64, 2 << 30);
    let mut log = String::new();
    let mut s = boot_session::<X86<false>>(&mem, &m, BootOptions::default(), &mut log).unwrap();
    let show = |s: &mut Session<'_, X86<false>>, id: u64| {
        s.call("show").unwrap().lines().find(|l| l.starts_with(&format!("memory{id}: "))).unwrap().to_string()
    };
    s.call("offline 5").unwrap();
    // Linux's valid_zones for an offline block: the default zone, then ZONE_MOVABLE.
    assert!(show(&mut s, 5).contains("valid_zones DMA32 Movable"), "{}", show(&mut s, 5));
    assert_eq!(s.call("online 5 movable").unwrap(), "memory5: online, zone Movable");
    s.audit().unwrap();
    let (dma32, movable) = {
        let z = |k: archmm::zone::ZoneType| {
            s.b.pages.zones().find(|z| z.kind == k).map(|z| (z.start_pfn, z.start_pfn + z.spanned)).unwrap()
        };
        (z(archmm::zone::ZoneType::Dma32), z(archmm::zone::ZoneType::Movable))
    };
    assert!(movable.0 > dma32.0 && movable.1 < dma32.1, "Movable {movable:x?} lies inside DMA32 {dma32:x?}");
    // Movable allocations land in the Movable block; its neighbours stay DMA32's.
    let out = s.call("alloc 0 movable").unwrap();
    let h: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let pfn = u64::from_str_radix(out.split_whitespace().nth(3).unwrap().trim_start_matches("0x"), 16).unwrap();
    assert!((movable.0..movable.1).contains(&pfn), "pfn {pfn:#x}");
    s.call(&format!("write {h} 77")).unwrap();
    s.call("offline 6").unwrap();
    assert_eq!(s.call("online 6 kernel").unwrap(), "memory6: online, zone DMA32");
    s.audit().unwrap();
    // Offlining the Movable block migrates the data out; the zone empties.
    let out = s.call("offline 5").unwrap();
    assert!(out.contains("1 migrated"), "{out}");
    s.call(&format!("check {h} 77")).unwrap();
    s.audit().unwrap();
    assert!(s.b.pages.zones().find(|z| z.kind == archmm::zone::ZoneType::Movable).is_none_or(|z| z.spanned == 0));
    // Boot memory is not removed (no firmware interface to eject it here).
    assert!(s.call("remove 0x28000000 128M").unwrap_err().contains("boot memory"));
}
