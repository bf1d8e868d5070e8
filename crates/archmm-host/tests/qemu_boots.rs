//! Real boots: every bare-metal kernel under QEMU, at two memory sizes.
//!
//! Each kernel runs archmm's bring-up with the emulated MMU on archmm's tables, then
//! allocates and checks every free page and maps/unmaps a test range (kernels/). The test
//! requires the kernel's pass line and QEMU's pass status, then boots the same firmware map
//! on the host emulator (`archmm boot`: the e820 lines the x86 kernel printed, the device
//! tree QEMU generates for arm64/riscv64, the model of QEMU's loongarch `virt` checked
//! against the fw_cfg `etc/memmap` the loongarch64 kernel printed) and requires the same
//! zone and node lines and the same `Memory:` total.
//!
//! Memory hotplug (issue 9, item 7): where the arch's Linux has it, the kernel boots with
//! the top memory block held back (`mem=`: it prints the cut), then hot-adds, onlines,
//! fills, offlines (migrating live movable data) and removes it. The test requires each of
//! those steps' lines and compares the layout with `archmm boot` on the firmware map the
//! kernel booted with: the host machine gets the same cut. riscv64 (no hotplug in 6.1)
//! must say it skipped the cycle for that reason and hold nothing back.
//!
//! Needs QEMU (qemu-system-x86, qemu-system-arm, qemu-system-misc), the rustup targets
//! x86_64-unknown-none, aarch64-unknown-none, riscv64gc-unknown-none-elf and the rust-src
//! component (loongarch64 builds its own `core`); `scripts/setup-tests` (run by the
//! README's test command, `scripts/test`) installs them. Without them the test fails.

use archmm::arch::Arch;
use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;
use archmm_host::qemu::{self, KernelTarget, MemorySource};
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// Lines both must print the same: the zone and node layout.
fn layout(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in lines {
        if l == "Zone ranges:" {
            inside = true;
        }
        if inside && (l.starts_with("percpu:") || l.starts_with("cma:") || l.starts_with("setup_percpu:")) {
            break;
        }
        if inside {
            out.push(l.clone());
        }
    }
    out
}

/// The `Memory:` line's total (`.../NK`): present pages, independent of what the kernel
/// image reserved.
fn memory_total(lines: &[String]) -> Option<String> {
    let l = lines.iter().find(|l| l.starts_with("Memory: "))?;
    Some(l.split('/').nth(1)?.split(' ').next()?.to_string())
}

/// The arch's Linux 6.1 selects ARCH_ENABLE_MEMORY_HOTPLUG (archmm's own answer).
fn has_hotplug(arch: ArchId) -> bool {
    use archmm::arch::{arm64::Arm64, loongarch64::Loongarch64, riscv64::Riscv64, x86_64::X86_64};
    match arch {
        ArchId::X86_64 => X86_64::MEMORY_HOTPLUG,
        ArchId::Arm64 => Arm64::MEMORY_HOTPLUG,
        ArchId::Riscv64 => Riscv64::MEMORY_HOTPLUG,
        ArchId::Loongarch64 => Loongarch64::MEMORY_HOTPLUG,
        _ => false,
    }
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("`{s}` is not hex"))
}

/// The kernel's hotplug lines: the `mem=` cut and the held-back `[start, end)`, if any.
fn held_back(lines: &[String]) -> Option<(u64, (u64, u64))> {
    let cut = lines.iter().find_map(|l| l.strip_prefix("archmm-kernel: hotplug: mem="))?;
    let cut = hex(cut.split(':').next().expect("a cut"));
    let held = lines
        .iter()
        .find_map(|l| l.strip_prefix("archmm-kernel: hotplug: held back [mem "))
        .expect("a held-back line after mem=");
    let (a, b) = held.split(']').next().and_then(|r| r.split_once('-')).expect("a range");
    Some((cut, (hex(a), hex(b) + 1)))
}

/// What `mem=cut` leaves of the RAM banks.
fn cut_banks(banks: &mut Vec<archmm::boot::MemBank>, cut: u64) {
    banks.retain(|b| b.base < cut);
    for b in banks.iter_mut() {
        b.size = b.size.min(cut - b.base);
    }
}

/// The hotplug steps the kernel must have reported; the `mem=` cut it booted with.
fn check_hotplug(t: &KernelTarget, mem: u64, console: &[String], ram: &[(u64, u64)]) -> Option<u64> {
    let name = t.arch.info().name;
    let all = console.join("\n");
    let held = held_back(console);
    if !has_hotplug(t.arch) {
        assert!(held.is_none(), "{name}: held memory back though the arch has no hotplug:\n{all}");
        let skip = "archmm-kernel: hotplug: skipped: memory hotplug is not supported: ";
        assert!(console.iter().any(|l| l.starts_with(skip)), "{name}: no `{skip}` line:\n{all}");
        return None;
    }
    let (cut, (start, end)) =
        held.unwrap_or_else(|| panic!("{name} -m {}M: no memory held back for hotplug:\n{all}", mem / MIB));
    assert_eq!(cut, start, "{name}: the cut is not the held-back block's start");
    if !ram.is_empty() {
        assert!(
            ram.iter().any(|&(b, e)| b <= start && end <= e),
            "{name}: held back [{start:#x}, {end:#x}) is not RAM of {ram:x?}"
        );
    }
    for step in [
        "archmm-kernel: hotplug: added [mem ",
        "archmm-kernel: hotplug: onlined memory",
        "archmm-kernel: hotplug: offlined memory",
        "archmm-kernel: hotplug: removed [mem ",
    ] {
        assert!(console.iter().any(|l| l.starts_with(step)), "{name} -m {}M: no `{step}` line:\n{all}", mem / MIB);
    }
    // Where the linear map is a page table, the removed range faults on the real MMU.
    if t.arch != archmm::arch::ArchId::Loongarch64 {
        let f = "archmm-kernel: hotplug: a load from the removed range faulted";
        assert!(console.iter().any(|l| l.starts_with(f)), "{name}: no `{f}` line:\n{all}");
    }
    Some(cut)
}

fn boot_and_compare(t: &KernelTarget, kernel: &std::path::Path, mem: u64) {
    let name = t.arch.info().name;
    let out = qemu::boot(t, kernel, mem, 1, Duration::from_secs(240), |_| {}).expect("QEMU runs");
    let console = out.console.join("\n");
    assert!(
        out.passed,
        "{name} -m {}M: kernel did not pass (status {:?}, timed out {}):\n{console}",
        mem / MIB,
        out.status,
        out.timed_out
    );
    for must in [
        "Zone ranges:",
        "Early memory node ranges",
        "Memory: ",
        "archmm-kernel: took ",
        "with one block",
        "read through the user mapping: ok",
        "user address space torn down",
    ] {
        assert!(out.console.iter().any(|l| l.contains(must)), "{name}: no `{must}` line:\n{console}");
    }
    // mark_rodata_ro() and the W^X check ran on the live tables, and the deliberate faults
    // were taken (LoongArch runs its kernel from a direct-mapped window: no such checks).
    if t.arch != archmm::arch::ArchId::Loongarch64 {
        for must in ["Checked W+X mappings: passed", "archmm-kernel: W^X on the live tables: rodata write faulted"] {
            assert!(out.console.iter().any(|l| l.contains(must)), "{name}: no `{must}` line:\n{console}");
        }
    }
    // __pa(PAGE_OFFSET) as Linux sets it: 0 on x86_64, the start of RAM on arm64 (its
    // 1 GiB-aligned memstart_addr) and riscv64 (phys_ram_base); LoongArch's window maps
    // physical 0 at its PAGE_OFFSET.
    let want_base = match t.arch {
        archmm::arch::ArchId::Arm64 => 0x4000_0000u64,
        archmm::arch::ArchId::Riscv64 => 0x8000_0000,
        _ => 0,
    };
    let base_line = format!("PAGE_OFFSET is pa {want_base:#x}");
    assert!(out.console.iter().any(|l| l.contains(&base_line)), "{name}: no `{base_line}`:\n{console}");
    // The same firmware map on the host emulator, with the cut the kernel made for hotplug.
    let machine = match t.kernel.memory {
        MemorySource::DeviceTree => {
            let dtb = std::env::temp_dir().join(format!("archmm-qemu-{name}-{}.dtb", std::process::id()));
            let blob = t.dump_dtb(mem, 1, &dtb).expect("dumpdtb").expect("a device tree");
            let mut m = Machine::from_dtb(&blob, t.arch).expect("QEMU's device tree parses");
            let ram: Vec<(u64, u64)> = m.banks.iter().map(|b| (b.base, b.base + b.size)).collect();
            if let Some(cut) = check_hotplug(t, mem, &out.console, &ram) {
                cut_banks(&mut m.banks, cut);
            }
            m
        }
        MemorySource::E820 => {
            // The kernel prints the e820 table it booted with: already cut.
            let e820: Vec<&str> =
                out.console.iter().filter(|l| l.starts_with("BIOS-e820:")).map(String::as_str).collect();
            assert!(e820.len() >= 3, "{name}: the kernel printed no e820 map:\n{console}");
            let m = Machine::from_e820_text(&e820.join("\n"), archmm::arch::ArchId::X86_64)
                .expect("the kernel's e820 lines parse");
            let ram: Vec<(u64, u64)> = m
                .e820
                .iter()
                .filter(|e| e.ty == archmm::firmware::e820::E820Type::RAM)
                .map(|e| (e.addr, e.addr + e.size))
                .collect();
            if let Some(cut) = check_hotplug(t, mem, &out.console, &[]) {
                assert!(
                    ram.iter().all(|&(_, e)| e <= cut),
                    "{name}: the kernel's e820 has RAM above its mem={cut:#x}:\n{console}"
                );
            }
            m
        }
        MemorySource::FwCfgMemmap => {
            // The host's model of the machine must describe the RAM the firmware reported.
            let memmap = qemu::parse_memmap_lines(out.console.iter().map(String::as_str))
                .expect("the kernel's memmap lines parse");
            let ram: Vec<(u64, u64)> = memmap.iter().filter(|e| e.2 == 1).map(|e| (e.0, e.1)).collect();
            assert!(!ram.is_empty(), "{name}: the kernel printed no etc/memmap:\n{console}");
            let mut model = Machine::qemu(t.arch, mem, 1, None).expect("the machine model");
            let banks: Vec<(u64, u64)> = model.banks.iter().map(|b| (b.base, b.size)).collect();
            assert_eq!(banks, ram, "{name} -m {}M: Machine::qemu's banks differ from QEMU's etc/memmap", mem / MIB);
            let ram: Vec<(u64, u64)> = ram.iter().map(|&(b, s)| (b, b + s)).collect();
            if let Some(cut) = check_hotplug(t, mem, &out.console, &ram) {
                cut_banks(&mut model.banks, cut);
            }
            model
        }
    };
    let host = run_boot(t.arch, &machine, BootOptions { cpus: 1, ..Default::default() })
        .map_err(|(_, e)| e)
        .expect("host boot");
    let (k, h) = (layout(&out.console), layout(&host.log));
    assert!(k.len() >= 6, "{name}: short layout {k:?}");
    assert_eq!(
        k,
        h,
        "{name} -m {}M: the kernel's zone/node lines differ from archmm boot on the same firmware map",
        mem / MIB
    );
    assert_eq!(memory_total(&out.console), memory_total(&host.log), "{name}: Memory: totals differ");
}

#[test]
fn every_kernel_boots_under_qemu() {
    let mut missing = Vec::new();
    for t in &qemu::targets() {
        if !qemu::have_program(t.kernel.qemu) {
            missing.push(t.kernel.qemu.to_string());
        }
    }
    assert!(missing.is_empty(), "real boots need {} (run scripts/setup-tests)", missing.join(", "));
    for t in &qemu::targets() {
        let kernel = qemu::build_kernel(t).unwrap_or_else(|e| panic!("{e} (run scripts/setup-tests)"));
        // A small machine (loongarch's virt takes no less than 1 GiB) and one past 4 GiB
        // where the arch has memory there (x86's e820 splits around the PCI hole; arm64,
        // riscv64 and loongarch64 get a DMA32/Normal boundary).
        for mem in [(512 * MIB).max(t.kernel.min_mem), 5 * 1024 * MIB] {
            boot_and_compare(t, &kernel, mem);
        }
    }
}
