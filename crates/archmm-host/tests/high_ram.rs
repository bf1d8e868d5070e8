//! Machines with RAM at high physical addresses, as real servers have (a device tree with
//! memory at 0x80_0000_0000): every kernel mode whose physical address width covers that
//! memory boots, and its linear map, where that memory is lowmem, translates it where
//! Linux 6.1's __va() puts it (PAGE_OFFSET + pa - __pa(PAGE_OFFSET)).

use archmm::arch::ArchId;
use archmm::boot::{BootOptions, MemBank};
use archmm::firmware::e820::{E820Entry, E820Type};
use archmm_host::emulator::run_mode;
use archmm_host::machine::Machine;

const GIB: u64 = 1 << 30;
const HIGH: u64 = 0x80_0000_0000;

/// The built-in machine of `arch` with 1 GiB more at 0x80_0000_0000.
fn with_high_gib(arch: ArchId) -> Machine {
    let mut m = Machine::qemu(arch, 2 * GIB, 1, None).expect("machine");
    if m.e820.is_empty() {
        m.banks.push(MemBank { base: HIGH, size: GIB, nid: m.banks[0].nid, hotplug: false });
    } else {
        m.e820.push(E820Entry::new(HIGH, GIB, E820Type::RAM));
    }
    m
}

/// A device-tree machine whose only RAM is 1 GiB at 0x80_0000_0000, the kernel in it.
fn only_high(arch: ArchId) -> Machine {
    let mut m = Machine::qemu(arch, 2 * GIB, 1, None).expect("machine");
    let (ks, ke) = m.kernel.expect("a kernel");
    let ram = m.banks[0].base;
    m.banks = vec![MemBank { base: HIGH, size: GIB, nid: None, hotplug: false }];
    m.kernel = Some((HIGH + (ks - ram), HIGH + (ke - ram)));
    m.dtb = m.dtb.map(|(s, e)| (HIGH + (s - ram), HIGH + (e - ram)));
    m.reserved.clear();
    m
}

/// Boot `mode`, then walk the linear address of `pa`: `Some(translated pa)`, or `None` when
/// the mode builds no linear-map table (LoongArch's window).
fn walk_linear(mode: &str, m: &Machine, pa: u64) -> (u64, Option<u64>) {
    let r = run_mode(mode, m, BootOptions::default(), None)
        .expect("a mode")
        .unwrap_or_else(|(log, e)| panic!("{mode}: {e}\n{}", log.join("\n")));
    let present = r.memory.physpages;
    if r.pgd.is_none() {
        return (present, None);
    }
    let va = pa.wrapping_add(r.linear_offset);
    let w = run_mode(mode, m, BootOptions::default(), Some(va))
        .expect("a mode")
        .unwrap_or_else(|(_, e)| panic!("{mode}: {e}"));
    let leaf = w
        .walk
        .last()
        .filter(|l| l.kind == "leaf")
        .unwrap_or_else(|| panic!("{mode}: {va:#x} (pa {pa:#x}) is not mapped: {:?}", w.walk));
    let size = leaf.size.expect("size");
    (present, Some(leaf.target.expect("target") + (va & (size - 1))))
}

/// An arch, its modes each with whether it keeps the high memory, and whether that memory
/// is in the linear map.
type Case = (ArchId, &'static [(&'static str, bool)], bool);

#[test]
fn ram_at_512_gib_boots_in_every_mode_that_reaches_it() {
    // (arch, modes whose physical addresses reach 2^39, whether that memory stays (arm64
    // with 39 or 36 VA bits and riscv64's Sv39 have a linear region smaller than 511 GiB:
    // Linux drops what it cannot map), and whether it is in the linear map (32-bit arm's is
    // highmem, above its 1 GiB window).
    let cases: &[Case] = &[
        (ArchId::X86_64, &[("x86_64-4level", true), ("x86_64-5level", true)], true),
        (
            ArchId::Arm64,
            &[
                ("arm64-4k-39", false),
                ("arm64-4k-48", true),
                ("arm64-16k-36", false),
                ("arm64-16k-47", true),
                ("arm64-16k-48", true),
                ("arm64-64k-42", true),
                ("arm64-64k-48", true),
                ("arm64-64k-52", true),
            ],
            true,
        ),
        (ArchId::Riscv64, &[("riscv64-sv39", false), ("riscv64-sv48", true), ("riscv64-sv57", true)], true),
        // LPAE arm: MAX_PHYSMEM_BITS is 36 (sparsemem), so 2^39 is beyond it and dropped.
        (ArchId::Arm, &[("arm-lpae", false)], false),
        (ArchId::Loongarch64, &[("loongarch64-3level-16k", true), ("loongarch64-4level-4k", true)], true),
        (ArchId::S390, &[("s390x-3level", true), ("s390x-4level", true), ("s390x-5level", true)], true),
        (ArchId::Powerpc, &[("powerpc64-radix-4k", true), ("powerpc64-radix-64k", true)], true),
    ];
    let mut checked = 0;
    for &(arch, modes, linear) in cases {
        let m = with_high_gib(arch);
        for &(mode, kept) in modes {
            let base =
                run_mode(mode, &Machine::qemu(arch, 2 * GIB, 1, None).expect("machine"), BootOptions::default(), None)
                    .expect("a mode")
                    .unwrap_or_else(|(_, e)| panic!("{mode}: {e}"))
                    .memory
                    .physpages;
            if !kept {
                let r = run_mode(mode, &m, BootOptions::default(), None)
                    .expect("a mode")
                    .unwrap_or_else(|(_, e)| panic!("{mode}: {e}"));
                assert_eq!(r.memory.physpages, base, "{mode}: memory the linear map cannot reach is dropped");
                if arch == ArchId::Arm64 {
                    assert!(
                        r.log.iter().any(|l| l == "Memory doesn't fit in the linear mapping, VA_BITS too small"),
                        "{mode}"
                    );
                }
                checked += 1;
                continue;
            }
            let present = if linear {
                let (present, got) = walk_linear(mode, &m, HIGH + 0x12_3000);
                if let Some(pa) = got {
                    assert_eq!(pa, HIGH + 0x12_3000, "{mode}: __va() of high memory");
                }
                present
            } else {
                run_mode(mode, &m, BootOptions::default(), None)
                    .expect("a mode")
                    .unwrap_or_else(|(_, e)| panic!("{mode}: {e}"))
                    .memory
                    .physpages
            };
            assert!(present > base, "{mode}: the GiB at {HIGH:#x} is not memory ({present} vs {base} pages)");
            checked += 1;
        }
    }
    assert_eq!(checked, 21);
    // Only the high GiB: arm64 and riscv64 place it at PAGE_OFFSET itself.
    for (arch, modes, page_offsets) in [
        (
            ArchId::Arm64,
            &["arm64-4k-39", "arm64-4k-48", "arm64-16k-36", "arm64-16k-47", "arm64-64k-42", "arm64-64k-52"][..],
            &[
                0xffff_ff80_0000_0000u64,
                0xffff_0000_0000_0000,
                0xffff_fff0_0000_0000,
                0xffff_8000_0000_0000,
                0xffff_fc00_0000_0000,
                0xfff0_0000_0000_0000,
            ][..],
        ),
        (
            ArchId::Riscv64,
            &["riscv64-sv39", "riscv64-sv48", "riscv64-sv57"],
            &[0xffff_ffd8_0000_0000, 0xffff_af80_0000_0000, 0xff60_0000_0000_0000],
        ),
    ] {
        let m = only_high(arch);
        for (mode, &po) in modes.iter().zip(page_offsets) {
            let r = run_mode(mode, &m, BootOptions::default(), Some(po))
                .expect("a mode")
                .unwrap_or_else(|(log, e)| panic!("{mode}: {e}\n{}", log.join("\n")));
            assert!(r.memory.physpages > 0, "{mode}: no memory");
            let leaf = r.walk.last().unwrap_or_else(|| panic!("{mode}: no walk"));
            assert_eq!((leaf.kind, leaf.target), ("leaf", Some(HIGH)), "{mode}: PAGE_OFFSET is the first byte of RAM");
        }
    }
}

/// Absurd amounts of memory (a device tree declaring 256 TiB, or all of 2^64): each arch
/// caps it as Linux does, and what the host emulator still cannot back is refused with a
/// typed error rather than exhausting the host.
#[test]
fn huge_memory_is_capped_as_linux_caps_it_then_bounded() {
    for size in [256u64 << 40, u64::MAX - GIB] {
        let mut m = Machine::qemu(ArchId::Arm64, 2 * GIB, 1, None).expect("machine");
        m.banks = vec![MemBank { base: GIB, size, nid: None, hotplug: false }];
        // 39-bit VAs: a 256 GiB linear region, and Linux's warning.
        let r = run_mode("arm64-4k-39", &m, BootOptions::default(), None)
            .expect("a mode")
            .unwrap_or_else(|(log, e)| panic!("{e}\n{}", log.join("\n")));
        assert_eq!(r.memory.physpages << 12, 256 << 30);
        assert!(r.log.iter().any(|l| l == "Memory doesn't fit in the linear mapping, VA_BITS too small"));
        // 48-bit VAs: 128 TiB would remain, beyond what the host emulator backs.
        let e = run_mode("arm64-4k-48", &m, BootOptions::default(), None)
            .expect("a mode")
            .map(|_| ())
            .expect_err("refused");
        assert!(matches!(e.1, archmm::boot::BootError::TooMuchMemory { size, .. } if size == 128 << 40), "{:?}", e.1);
        // riscv64 Sv39 caps at KERN_VIRT_SIZE - 4 GiB (124 GiB).
        let mut m = Machine::qemu(ArchId::Riscv64, 2 * GIB, 1, None).expect("machine");
        m.banks = vec![MemBank { base: 2 * GIB, size, nid: None, hotplug: false }];
        let r = run_mode("riscv64-sv39", &m, BootOptions::default(), None)
            .expect("a mode")
            .unwrap_or_else(|(log, e)| panic!("{e}\n{}", log.join("\n")));
        assert_eq!(r.memory.physpages << 12, 124 << 30);
    }
}

/// More memory nodes than memblock holds this early: Linux drops the banks that would need
/// a 129th region (memblock cannot grow before paging_init()) and boots; so does archmm,
/// saying so.
#[test]
fn more_than_128_memory_banks_boot() {
    let mut m = Machine::qemu(ArchId::Arm64, 2 * GIB, 1, None).expect("machine");
    m.banks = (0..200u64)
        .map(|i| MemBank { base: GIB + i * (512 << 20), size: 256 << 20, nid: None, hotplug: false })
        .collect();
    let r = run_mode("arm64-4k-48", &m, BootOptions::default(), None)
        .expect("a mode")
        .unwrap_or_else(|(log, e)| panic!("{e}\n{}", log.join("\n")));
    assert_eq!(r.memory.physpages << 12, 128 * (256 << 20));
    assert_eq!(r.log.iter().filter(|l| l.contains("not added: memblock.memory is full")).count(), 72);
}
