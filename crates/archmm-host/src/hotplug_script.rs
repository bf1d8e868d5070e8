//! `archmm hotplug SCRIPT`: memory hotplug on a booted machine, one call per line.
//!
//! Calls (numbers as in `archmm memblock`: hex or decimal, `K`/`M`/`G`/`T` suffixes):
//! `add BASE SIZE [NID] [driver_managed] [memmap_on_memory]`, `online N [kernel|movable]`,
//! `offline N`, `remove BASE SIZE`, `alloc ORDER [movable]` (prints `handle H pfn P`),
//! `free H`, `write H BYTE` / `check H BYTE` (fill / verify an allocation through physical
//! memory), `policy contig-zones|auto-movable [RATIO]`, `movable_node on|off`, `show` (the
//! /sys/devices/system/memory listing and the zone counts) and `audit` (every page frame
//! counted, zone and node counts recounted from scratch). A bad call prints
//! `error: line N: ...` and changes nothing.

use crate::backing::SparseMem;
use crate::machine::Machine;
use crate::script::parse_num;
use archmm::addr::PhysAddr;
use archmm::arch::registry::ArchVisitor;
use archmm::arch::{Arch, ArchId};
use archmm::boot::{boot, BootOptions, Booted};
use archmm::buddy::Gfp;
use archmm::hotplug::{AddFlags, Hotplug, MemoryBlock, OnlinePolicy, OnlineType};
use archmm::memblock::{RegionType, MAX_NUMNODES};
use archmm::memmap::{PG_BUDDY, PG_HEAD, PG_OFFLINE, PG_PCP, PG_RESERVED};
use archmm::physmem::PhysMem;
use archmm::zone::ZoneType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// What a script run produced.
#[derive(Debug, Default, Serialize)]
pub struct HotplugOutcome {
    /// Output lines.
    pub lines: Vec<String>,
    /// Calls refused.
    pub errors: usize,
    /// Audit failures (should be none).
    pub audit_failures: usize,
    /// The memory block size.
    pub block_size: u64,
}

/// Run `script` on machine `m` booted as `arch` (or kernel mode `mode`).
///
/// # Errors
/// A one-line reason when the machine does not boot or the arch has no memory hotplug.
pub fn run(
    arch: ArchId,
    mode: Option<&str>,
    m: &Machine,
    opts: BootOptions,
    script: &str,
) -> Result<HotplugOutcome, String> {
    struct Run<'a> {
        m: &'a Machine,
        opts: BootOptions,
        script: &'a str,
    }
    impl ArchVisitor for Run<'_> {
        type Output = Result<HotplugOutcome, String>;
        fn visit<A: Arch>(self) -> Self::Output {
            run_as::<A>(self.m, self.opts, self.script)
        }
    }
    let run = Run { m, opts, script };
    match mode {
        Some(mode) => archmm::arch::registry::visit_kernel_mode(mode, run)
            .unwrap_or_else(|_| Err(format!("mode {mode}: not a kernel paging mode archmm knows"))),
        None => arch.visit(run),
    }
}

/// An allocation the script holds.
#[derive(Clone, Copy, Debug)]
struct Held {
    pfn: u64,
    order: u32,
    movable: bool,
}

/// A booted machine with hotplug and the script's allocations, for the CLI and the tests.
#[derive(Debug)]
pub struct Session<'a, A: Arch> {
    /// The booted machine.
    pub b: Booted<'a, A, &'a SparseMem>,
    /// The hotplug state.
    pub hp: Hotplug,
    held: BTreeMap<u64, Held>,
    next: u64,
    /// The zones' spans at boot, which do not overlap (kind, nid, start, end): where the
    /// pages of boot blocks that span several zones belong, for the audit.
    boot_spans: Vec<(ZoneType, usize, u64, u64)>,
}

fn run_as<A: Arch>(m: &Machine, opts: BootOptions, script: &str) -> Result<HotplugOutcome, String> {
    let mem = SparseMem::new();
    let mut log = String::new();
    let mut s = boot_session::<A>(&mem, m, opts, &mut log)?;
    let mut out = HotplugOutcome { block_size: s.hp.block_size_bytes(), ..Default::default() };
    for (i, line) in script.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match s.call(line) {
            Ok(text) => out.lines.extend(text.lines().map(str::to_string)),
            Err(e) => {
                out.errors += 1;
                if e.starts_with("audit") {
                    out.audit_failures += 1;
                }
                out.lines.push(format!("error: line {}: {e}", i + 1));
            }
        }
    }
    Ok(out)
}

/// Boot `m` as `A` on `mem` and set up hotplug.
///
/// # Errors
/// The boot error or why the arch has no hotplug.
pub fn boot_session<'a, A: Arch>(
    mem: &'a SparseMem,
    m: &'a Machine,
    opts: BootOptions,
    log: &'a mut String,
) -> Result<Session<'a, A>, String> {
    if let Some(bda) = m.bda {
        mem.write(PhysAddr(0x413), &bda.base_kb.to_le_bytes());
        mem.write(PhysAddr(0x40e), &bda.ebda_segment.to_le_bytes());
    }
    let b = boot::<A, &SparseMem>(mem, m.firmware_map::<A>(), crate::emulator::host_limits(opts), log)
        .map_err(|e| format!("boot: {e}"))?;
    let hp = Hotplug::new(&b).map_err(|e| format!("{}: {e}", A::NAME))?;
    let boot_spans = b
        .pages
        .zones()
        .filter(|z| z.spanned != 0)
        .map(|z| (z.kind, z.nid, z.start_pfn, z.start_pfn + z.spanned))
        .collect();
    Ok(Session { b, hp, held: BTreeMap::new(), next: 1, boot_spans })
}

fn num(s: Option<&str>, what: &str) -> Result<u64, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    parse_num(s).ok_or_else(|| format!("`{s}` is not a number ({what})"))
}

impl<A: Arch> Session<'_, A> {
    /// Run one call; the printed text, or the error.
    ///
    /// # Errors
    /// Why the call was refused (nothing changed).
    pub fn call(&mut self, line: &str) -> Result<String, String> {
        let mut w = line.split_whitespace();
        let cmd = w.next().unwrap_or("");
        let args: Vec<&str> = w.collect();
        let a = |i: usize| args.get(i).copied();
        let ps = A::PAGE_SHIFT;
        match cmd {
            "add" => {
                let (base, size) = (num(a(0), "base")?, num(a(1), "size")?);
                let mut nid = 0usize;
                let mut flags = AddFlags::default();
                for x in &args[2.min(args.len())..] {
                    match *x {
                        "driver_managed" => flags.driver_managed = true,
                        "memmap_on_memory" => flags.memmap_on_memory = true,
                        n => nid = usize::try_from(num(Some(n), "node")?).map_err(|_| "bad node".to_string())?,
                    }
                }
                self.hp.add(&mut self.b, PhysAddr(base), size, nid, flags).map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            "online" => {
                let id = num(a(0), "block")?;
                let how = match a(1) {
                    None | Some("online") => OnlineType::Online,
                    Some("kernel" | "online_kernel") => OnlineType::Kernel,
                    Some("movable" | "online_movable") => OnlineType::Movable,
                    Some(x) => return Err(format!("`{x}`: online takes kernel or movable")),
                };
                let z = self.hp.online(&mut self.b, id, how).map_err(|e| e.to_string())?;
                Ok(format!("memory{id}: online, zone {}", z.name()))
            }
            "offline" => {
                let id = num(a(0), "block")?;
                let mut moves = Vec::new();
                let st = self.hp.offline(&mut self.b, id, &mut |m| moves.push(m)).map_err(|e| e.to_string())?;
                for m in moves {
                    if let Some(h) = self.held.get_mut(&m.handle) {
                        h.pfn = m.new_pfn;
                    }
                }
                Ok(format!("memory{id}: offline, {} pages isolated, {} migrated", st.isolated, st.migrated))
            }
            "remove" => {
                let (base, size) = (num(a(0), "base")?, num(a(1), "size")?);
                self.hp
                    .remove(&mut self.b, PhysAddr(base), size, &mut archmm::pgtable::FlushLog::default())
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            "alloc" => {
                let order = u32::try_from(num(a(0), "order")?).map_err(|_| "bad order".to_string())?;
                let movable = match a(1) {
                    None => false,
                    Some("movable") => true,
                    Some(x) => return Err(format!("`{x}`: alloc takes `movable`")),
                };
                let gfp = if movable { Gfp::HIGHUSER_MOVABLE } else { Gfp::KERNEL };
                let pfn = self.b.pages.alloc(0, gfp, order, 0).map_err(|e| e.to_string())?;
                let h = self.next;
                self.next += 1;
                self.b.pages.set_private(pfn, h);
                self.held.insert(h, Held { pfn, order, movable });
                Ok(format!("handle {h} pfn {pfn:#x}"))
            }
            "free" => {
                let h = num(a(0), "handle")?;
                let held = *self.held.get(&h).ok_or_else(|| format!("no handle {h}"))?;
                self.b.pages.free(0, held.pfn, held.order).map_err(|e| e.to_string())?;
                self.held.remove(&h);
                Ok(String::new())
            }
            "write" | "check" => {
                let h = num(a(0), "handle")?;
                let byte = u8::try_from(num(a(1), "byte")?).map_err(|_| "byte above 255".to_string())?;
                let held = *self.held.get(&h).ok_or_else(|| format!("no handle {h}"))?;
                let len = (1u64 << held.order) << ps;
                let base = held.pfn << ps;
                let mem = *self.b.pages.mem();
                let mut buf = vec![0u8; 4096];
                let mut off = 0;
                while off < len {
                    let pat: Vec<u8> = (0..4096u64).map(|i| byte ^ ((off + i) as u8) ^ (h as u8)).collect();
                    if cmd == "write" {
                        mem.write(PhysAddr(base + off), &pat);
                    } else {
                        mem.read(PhysAddr(base + off), &mut buf);
                        if buf != pat {
                            return Err(format!("handle {h}: contents differ at {:#x}", base + off));
                        }
                    }
                    off += 4096;
                }
                Ok(if cmd == "check" { format!("handle {h}: ok at pfn {:#x}", held.pfn) } else { String::new() })
            }
            "policy" => {
                self.hp.policy = match (a(0), a(1)) {
                    (Some("contig-zones"), None) => OnlinePolicy::ContigZones,
                    (Some("auto-movable"), r) => OnlinePolicy::AutoMovable {
                        ratio: r.map(|x| num(Some(x), "ratio")).transpose()?.unwrap_or(301),
                        numa_aware: true,
                    },
                    _ => return Err("policy contig-zones | auto-movable [RATIO]".into()),
                };
                Ok(String::new())
            }
            "movable_node" => {
                self.hp.movable_node = match a(0) {
                    Some("on") => true,
                    Some("off") => false,
                    _ => return Err("movable_node on|off".into()),
                };
                Ok(String::new())
            }
            "show" => Ok(self.show()),
            "audit" => self.audit().map(|c| format!("audit: ok ({c} pages)")).map_err(|e| format!("audit: {e}")),
            "" => Ok(String::new()),
            other => Err(format!("unknown call `{other}`")),
        }
    }

    /// The /sys/devices/system/memory listing and zone counts.
    pub fn show(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "block_size_bytes {:x}", self.hp.block_size_bytes());
        for blk in self.hp.blocks() {
            let vz = self.hp.valid_zones::<A, &SparseMem>(&self.b.pages, blk.id);
            let vz: Vec<&str> = vz.iter().flatten().map(|z| z.name()).collect();
            let _ = writeln!(
                s,
                "memory{}: state {} phys_index {:08x} node {} valid_zones {} removable 1 online_type {}{}",
                blk.id,
                if blk.online { "online" } else { "offline" },
                blk.id,
                blk.nid,
                if vz.is_empty() { "none".to_string() } else { vz.join(" ") },
                blk.online_type.name(),
                if blk.hot { " (hot-added)" } else { "" }
            );
        }
        for z in self.b.pages.zones() {
            let _ = writeln!(
                s,
                "Node {}, zone {:>8}: start_pfn {:#x} spanned {} present {} managed {} free {}",
                z.nid,
                z.kind.name(),
                z.start_pfn,
                z.spanned,
                z.present,
                z.managed.load(Relaxed),
                z.free.load(Relaxed)
            );
        }
        s
    }

    /// Snapshot of everything an operation could change: each page's metadata in the
    /// blocks and zones, and the counters.
    pub fn snapshot(&self) -> String {
        let mut s = self.show();
        let _ = writeln!(s, "{:?}", self.hp.blocks().collect::<Vec<_>>());
        for z in self.b.pages.zones() {
            let _ = writeln!(
                s,
                "{:?} pcp {} wmark {:?}",
                z.nr_free(),
                self.b.pages.pcp_pages(),
                z.wmark.iter().map(|w| w.load(Relaxed)).collect::<Vec<_>>()
            );
        }
        let bp = self.hp.block_pages();
        for blk in self.hp.blocks() {
            self.b.pages.for_each_state(blk.id * bp, (blk.id + 1) * bp, |p, st| {
                let _ = write!(s, "{p:x}{st:?}");
            });
        }
        let _ = writeln!(s, "{:?}", self.held);
        s
    }

    /// Count every page frame by its state and recount zone and node counters from scratch.
    ///
    /// # Errors
    /// What does not add up.
    pub fn audit(&self) -> Result<u64, String> {
        let pages = &self.b.pages;
        let mem = *pages.mem();
        let mm = pages.memmap();
        let ps = A::PAGE_SHIFT;
        // Walk every block head from pfn 0 to the end of the highest memory or block.
        let bp = self.hp.block_pages();
        let mut end = pages.zones().map(|z| z.start_pfn + z.spanned).max().unwrap_or(0);
        end = end.max(archmm::addr::pfn_up(self.b.ctx.memblock.end_of_dram(), ps));
        end = end.max(self.hp.blocks().map(|b| (b.id + 1) * bp).max().unwrap_or(0));
        let nz = pages.zones().count();
        // A block head's zone is the one its link names (zones may overlap).
        let zone_of_link = |link: u32| pages.zones().position(|z| z.link() == link);
        let mut free = vec![0u64; nz];
        let mut pcp = vec![0u64; nz];
        let mut alloc = vec![0u64; nz];
        let mut counted = 0u64;
        let mut pfn = 0;
        while pfn < end {
            let Some(m) = mm.get::<A::Paging, _>(&mem, pfn) else {
                pfn = mm.skip_absent(pfn).min(end).max(pfn + 1);
                continue;
            };
            let f = m.flags;
            let kinds = [PG_RESERVED, PG_BUDDY, PG_PCP, PG_HEAD, PG_OFFLINE].iter().filter(|k| f & **k != 0).count();
            if kinds > 1 {
                return Err(format!("pfn {pfn:#x} has two states (flags {f:#x})"));
            }
            let n = m.block_len();
            if f & (PG_BUDDY | PG_PCP | PG_HEAD | PG_OFFLINE) != 0 && pfn % n != 0 {
                return Err(format!("block at {pfn:#x} of order {} is misaligned", m.order()));
            }
            let zi = if f & (PG_BUDDY | PG_PCP | PG_HEAD) != 0 {
                let z = zone_of_link(m.zone_link())
                    .ok_or_else(|| format!("block head {pfn:#x} names no zone (link {})", m.zone_link()))?;
                let zz = pages.zones().nth(z).ok_or("zone")?;
                if pfn < zz.start_pfn || pfn + n > zz.start_pfn + zz.spanned {
                    return Err(format!("block at {pfn:#x} lies outside its zone {}", zz.kind.name()));
                }
                // A block onlined to one zone holds only that zone's pages.
                if let Some(blk) = self.hp.block(pfn / bp).filter(|b| b.online) {
                    if blk.zone.is_some_and(|k| (k, blk.nid) != (zz.kind, zz.nid)) {
                        return Err(format!(
                            "block head {pfn:#x} is in zone {} but memory block {} is in {:?}",
                            zz.kind.name(),
                            blk.id,
                            blk.zone
                        ));
                    }
                }
                Some(z)
            } else {
                None
            };
            let slot = |v: &mut Vec<u64>| -> Result<(), String> {
                match zi {
                    Some(z) => {
                        v[z] += n;
                        Ok(())
                    }
                    None => Err(format!("managed or offline page {pfn:#x} outside every zone")),
                }
            };
            if f & PG_BUDDY != 0 {
                slot(&mut free)?;
            } else if f & PG_PCP != 0 {
                slot(&mut pcp)?;
            } else if f & PG_HEAD != 0 {
                slot(&mut alloc)?;
            } else if f & PG_OFFLINE != 0 {
                // Offline pages belong to offline blocks.
                let blk = self
                    .hp
                    .block(pfn / bp)
                    .ok_or_else(|| format!("offline page {pfn:#x} outside every memory block"))?;
                if blk.online {
                    return Err(format!("offline page {pfn:#x} in online block {}", blk.id));
                }
            } else if f & PG_RESERVED == 0 {
                // Zero metadata: a page no block covers. Must not be in an online block's
                // memory.
                if let Some(blk) = self.hp.block(pfn / bp) {
                    if blk.hot {
                        return Err(format!("page {pfn:#x} of hot-added block {} has no state", blk.id));
                    }
                }
            }
            counted += n;
            pfn += n;
        }
        // Present pages from scratch: memblock memory of online blocks, in the block's zone;
        // boot blocks spanning several zones by the zones' boot spans; offline blocks in none.
        let mut present = vec![0u64; nz];
        let mut ranges = Vec::new();
        self.b.ctx.memblock.for_each_mem_pfn_range(MAX_NUMNODES, ps, |s, e, _| ranges.push((s, e)));
        for (rs, re) in ranges {
            let mut p = rs;
            while p < re {
                let q = re.min((p / bp + 1) * bp);
                match self.hp.block(p / bp) {
                    Some(blk) if !blk.online => {}
                    Some(MemoryBlock { zone: Some(k), nid, .. }) => {
                        let zi = pages
                            .zone_index(k, nid)
                            .ok_or_else(|| format!("block {} is in a zone that does not exist", p / bp))?;
                        present[zi] += q - p;
                    }
                    _ => {
                        for &(k, nid, zs, ze) in &self.boot_spans {
                            let (a, b) = (p.max(zs), q.min(ze));
                            if a < b {
                                present[pages.zone_index(k, nid).ok_or("a boot zone vanished")?] += b - a;
                            }
                        }
                    }
                }
                p = q;
            }
        }
        // Recount the zones.
        for (i, z) in pages.zones().enumerate() {
            if z.free.load(Relaxed) != free[i] {
                return Err(format!(
                    "zone {} node {}: free {} but {} free pages counted",
                    z.kind.name(),
                    z.nid,
                    z.free.load(Relaxed),
                    free[i]
                ));
            }
            let lists: u64 = z.nr_free().iter().enumerate().map(|(o, n)| n << o).sum();
            if lists != free[i] {
                return Err(format!("zone {}: free lists hold {lists} pages, {} counted", z.kind.name(), free[i]));
            }
            let cp: u64 = (0..pages.cpus()).map(|c| pages.pcp_count(z, c)).sum();
            if cp != pcp[i] {
                return Err(format!("zone {}: pcp {cp} but {} counted", z.kind.name(), pcp[i]));
            }
            let managed = free[i] + pcp[i] + alloc[i];
            if z.managed.load(Relaxed) != managed {
                return Err(format!(
                    "zone {} node {}: managed {} but {managed} counted",
                    z.kind.name(),
                    z.nid,
                    z.managed.load(Relaxed)
                ));
            }
            if z.present != present[i] {
                return Err(format!(
                    "zone {} node {}: present {} but {} counted",
                    z.kind.name(),
                    z.nid,
                    z.present,
                    present[i]
                ));
            }
            let nzr = self.b.zones.nodes[z.nid].zones[z.kind as usize];
            if z.spanned != 0 && (nzr.start_pfn, nzr.spanned, nzr.present) != (z.start_pfn, z.spanned, z.present) {
                return Err(format!("node {} zone {}: node layout disagrees with the zone", z.nid, z.kind.name()));
            }
        }
        // Removed and never-added memory has no struct page; memblock agrees with the blocks.
        for blk in self.hp.blocks() {
            let (s, e) = (blk.id * bp, (blk.id + 1) * bp);
            if blk.hot && !self.b.ctx.memblock.is_region_memory(s << ps, (e - s) << ps) {
                return Err(format!("block {} is not memblock memory", blk.id));
            }
        }
        let _ = RegionType::Memory;
        let _ = ZoneType::Normal;
        Ok(counted)
    }

    /// The handles held (for tests): handle, pfn, order, movable.
    pub fn held(&self) -> Vec<(u64, u64, u32, bool)> {
        self.held.iter().map(|(h, x)| (*h, x.pfn, x.order, x.movable)).collect()
    }
}
