//! Views of a booted machine beyond /proc's counters: the kernel page table's mappings and
//! W^X result (`--show wx`), the first per-CPU chunk (`--show percpu`), and the first user
//! address space with its vDSO (`--show maps`, `archmm walk --mm user`).

use crate::backing::SparseMem;
use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::Arch;
use archmm::boot::Booted;
use archmm::buddy::Gfp;
use archmm::pgtable::{FlushLog, PageTable, PagingMode, Prot, VaRange};
use archmm::uspace::{arch_setup_additional_pages, AddressSpace, VdsoPlacement};
use serde::Serialize;
use std::fmt::Write as _;

/// One run of kernel mappings with one protection in one region (ptdump merges the same
/// way: by attributes, not by physical address).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MappingRun {
    /// First virtual address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// Physical address of `start`.
    pub pa: u64,
    /// The physical addresses are contiguous over the run.
    pub pa_contiguous: bool,
    /// Protection, as `rwxkg Type`.
    pub prot: String,
    /// What the range is (linear map, kernel image, vmemmap, ...).
    pub region: &'static str,
}

/// Every leaf of the table rooted at `root`, merged into runs.
pub fn mapping_runs<A: Arch>(mem: &SparseMem, b: &Booted<'_, A, &SparseMem>) -> Vec<MappingRun> {
    let Some(root) = b.ctx.pgd else { return Vec::new() };
    let pt = PageTable::<A::Paging, SparseMem>::from_root(mem, root);
    let mo_bits = <A::Paging as PagingMode>::VA_BITS.min(64);
    let half = 1u64 << (mo_bits - 1);
    let ranges: [(u64, u64); 2] = match <A::Paging as PagingMode>::VA_RANGE {
        VaRange::Canonical => [(0, half), (0u64.wrapping_sub(half), half)],
        VaRange::High => [(0u64.wrapping_sub(half << 1), half), (0u64.wrapping_sub(half), half)],
        VaRange::Low => [(0, half), (half, half)],
    };
    let layout = b.ctx.layout;
    // The bits the kernel's table does not index (powerpc's quadrant 3), put back.
    let high = A::PAGE_OFFSET & !A::KERNEL_VA_MASK;
    let region = |va: u64| -> &'static str {
        if let Some(img) = layout.image {
            if va.wrapping_sub(img.va) < img.size() {
                return "kernel image";
            }
        }
        if va >= layout.page_offset && va.wrapping_sub(layout.page_offset) < layout.linear_end {
            return "linear map";
        }
        let vmemmap = A::VMEMMAP_START & A::KERNEL_VA_MASK;
        if vmemmap != 0 && va >= vmemmap && va - vmemmap < (1u64 << 46) {
            return "vmemmap";
        }
        "other"
    };
    let mut runs: Vec<MappingRun> = Vec::new();
    let mut last: Option<(u64, u64, u64, Prot, bool)> = None;
    let push = |runs: &mut Vec<MappingRun>, r: (u64, u64, u64, Prot, bool)| {
        runs.push(MappingRun {
            start: r.0 | high,
            end: r.1 | high,
            pa: r.2,
            pa_contiguous: r.4,
            prot: r.3.to_string(),
            region: region(r.0),
        });
    };
    for (start, size) in ranges {
        pt.for_each_leaf(VirtAddr(start), size, |va, len, pa, prot| match last {
            Some((s, e, p, q, c)) if e == va && q == prot && region(s) == region(va) => {
                last = Some((s, va + len, p, q, c && p + (e - s) == pa))
            }
            _ => {
                if let Some(r) = last.take() {
                    push(&mut runs, r);
                }
                last = Some((va, va.wrapping_add(len), pa, prot, true));
            }
        });
    }
    if let Some(r) = last {
        push(&mut runs, r);
    }
    runs
}

/// A size as `4K`, `2M`, `1G`: the largest unit that divides it exactly.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{}K", b >> 10),
    }
}

/// `--show wx`: the kernel page table's mappings as runs (ptdump-like) and the W^X result.
pub fn wx_view<A: Arch>(mem: &SparseMem, b: &Booted<'_, A, &SparseMem>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---[ kernel page table ({}) ]---", <A::Paging as PagingMode>::NAME);
    if !A::LINEAR_MAP_IN_TABLES {
        // The linear map is a hardware window (LoongArch's DMW1): every memory region is
        // reachable there without a page-table entry.
        let linear_end = b.ctx.max_low_pfn << A::PAGE_SHIFT;
        for r in b.ctx.memblock.real_regions(archmm::memblock::RegionType::Memory) {
            let end = r.end().min(linear_end);
            if r.base >= end {
                continue;
            }
            let va = b.ctx.layout.page_offset.wrapping_add(r.base);
            let _ = writeln!(
                s,
                "{va:#018x}-{:#018x} {:>8} {:<16} {:<18} linear map (direct-mapping window, no page table)",
                va.wrapping_add(end - r.base),
                human(end - r.base),
                "rwxkg Normal",
                format!("pa {:#x}", r.base)
            );
        }
    }
    for r in mapping_runs::<A>(mem, b) {
        let pa = if r.pa_contiguous { format!("pa {:#x}", r.pa) } else { "pa scattered".to_string() };
        let _ = writeln!(
            s,
            "{:#018x}-{:#018x} {:>8} {:<16} {:<18} {}",
            r.start,
            r.end,
            human(r.end.wrapping_sub(r.start)),
            r.prot,
            pa,
            r.region
        );
    }
    match A::WX_FORMAT {
        Some(f) => {
            let _ = archmm::protect::write_wx(&f, &b.wx, &mut s);
        }
        None => {
            let _ = writeln!(s, "(no W^X check on {}: the reference kernel does not run one)", A::NAME);
        }
    }
    s
}

/// `--show percpu`: the first chunk's allocation info (the first block of Linux's
/// /sys/kernel/debug/percpu_stats) and where each CPU's unit is.
pub fn percpu_view<A: Arch>(b: &Booted<'_, A, &SparseMem>) -> String {
    let mut s = String::new();
    let Some(p) = b.ctx.percpu else { return s };
    let l = &p.layout;
    let _ = writeln!(s, "Percpu Memory Statistics");
    let _ = writeln!(s, "Allocation Info:");
    let _ = writeln!(s, "----------------------------------------");
    for (name, v) in [
        ("unit_size", l.unit_size),
        ("static_size", l.static_size),
        ("reserved_size", l.reserved_size),
        ("dyn_size", l.dyn_size),
        ("atom_size", l.atom_size),
        ("alloc_size", l.alloc_size),
    ] {
        let _ = writeln!(s, "  {name:<20}: {v:>12}");
    }
    if let Some(c) = b.pages.percpu() {
        // The dynamic area's use: each zone's per-CPU page lists are allocations here.
        let st = c.stats();
        let _ = writeln!(s);
        let _ = writeln!(s, "Per Chunk Stats:");
        let _ = writeln!(s, "----------------------------------------");
        let _ = writeln!(s, "Chunk: <- First Chunk");
        for (name, v) in [("nr_alloc", st.nr_alloc), ("free_bytes", st.free_bytes), ("contig_bytes", st.contig_bytes)] {
            let _ = writeln!(s, "  {name:<20}: {v:>12}");
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "First chunk units:");
    for cpu in 0..l.cpus {
        let _ = writeln!(
            s,
            "  cpu {cpu:>3}: node {} group {} unit [mem {:#018x}-{:#018x}]",
            l.cpu_node[cpu],
            l.cpu_group[cpu],
            p.unit_base[cpu],
            p.unit_base[cpu] + l.unit_size - 1
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Per-CPU page lists (zone->per_cpu_pageset):");
    if let Some(c) = b.pages.percpu() {
        for z in b.pages.zones() {
            let Some(ptr) = z.pageset else { continue };
            let _ = write!(s, "  Node {} {:<8} offset {:#x}:", z.nid, z.kind.name(), ptr.0);
            for cpu in 0..c.cpus() {
                if let Some(at) = c.addr(ptr, cpu) {
                    let _ = write!(s, " cpu{cpu}@{:#x}", at.0);
                }
            }
            let _ = writeln!(s);
        }
    }
    s
}

/// The first user address space a kernel builds (for init): an empty user root of the
/// arch's user mode, sharing the kernel half as the arch does, with the vDSO mapped by
/// the arch's rule. Its pages come from the page allocator.
#[derive(Debug, Clone, Serialize)]
pub struct UserSpace {
    /// The user paging mode.
    pub mode: &'static str,
    /// The root table.
    pub root: u64,
    /// TASK_SIZE.
    pub task_size: u64,
    /// mmap_base.
    pub mmap_base: u64,
    /// How the kernel half is reached.
    pub share: &'static str,
    /// `[vvar]` and `[vdso]`.
    pub vdso: (u64, u64),
    /// The physical pages of the vDSO text, in order.
    pub vdso_text_pages: Vec<u64>,
    /// /proc/PID/maps lines.
    pub maps: Vec<String>,
}

/// Pages of vDSO text the emulated kernel maps (Linux's x86-64, arm64 and riscv64 vDSOs
/// are two 4K pages of text).
pub const VDSO_TEXT_PAGES: usize = 2;

/// Build the first user address space over a booted machine; `None` if the page
/// allocator has no pages (never on a booted machine).
pub fn first_user_space<A: Arch>(mem: &SparseMem, b: &mut Booted<'_, A, &SparseMem>) -> Option<(UserSpace, u64)> {
    let page = A::page_size();
    let mut pages = Vec::new();
    for i in 0..(A::VDSO.vvar_pages as usize + VDSO_TEXT_PAGES) {
        let pfn = b.pages.alloc(0, Gfp::KERNEL.or(Gfp::ZERO), 0, 0).ok()?;
        // The text pages start with an ELF header, as a vDSO image does.
        if i >= A::VDSO.vvar_pages as usize {
            archmm::physmem::PhysMem::write(mem, PhysAddr(pfn * page), b"\x7fELF\x02\x01\x01");
        }
        pages.push(pfn * page);
    }
    let (vvar, text) = pages.split_at(A::VDSO.vvar_pages as usize);
    let kernel_root = b.ctx.pgd;
    let mut alloc = archmm::early::MmAlloc::<A::Paging, &SparseMem>::new(&mut b.ctx.memblock, Some(&b.pages), 0);
    let mut mm = AddressSpace::<A::UserPaging, SparseMem>::new(
        mem,
        &mut alloc,
        A::TASK_SIZE,
        A::USER_SHARE,
        kernel_root.map(|a| a.0),
    )
    .ok()?;
    let VdsoPlacement { vvar: vv, text: tv, text_len } =
        arch_setup_additional_pages(&mut mm, &A::VDSO, vvar, text, &mut alloc, &mut FlushLog::default()).ok()?;
    let maps = mm
        .vmas()
        .map(|m| {
            let p = m.prot;
            format!(
                "{:08x}-{:08x} {}{}{}p 00000000 00:00 0                          {}",
                m.start,
                m.end,
                if p.read { 'r' } else { '-' },
                if p.write { 'w' } else { '-' },
                if p.exec { 'x' } else { '-' },
                m.name
            )
        })
        .collect();
    let _ = text_len;
    let us = UserSpace {
        mode: <A::UserPaging as PagingMode>::NAME,
        root: mm.root(),
        task_size: mm.task_size(),
        mmap_base: mm.mmap_base(),
        share: match A::USER_SHARE {
            archmm::uspace::KernelShare::CopyTopLevel => "kernel top-level entries copied",
            archmm::uspace::KernelShare::SeparateRoot => "kernel in a separate root",
        },
        vdso: (vv, tv),
        vdso_text_pages: text.to_vec(),
        maps,
    };
    // The address space stays (its tables and pages are allocated pages of the machine),
    // for walks with `--mm user`.
    Some((us, mm.root()))
}
