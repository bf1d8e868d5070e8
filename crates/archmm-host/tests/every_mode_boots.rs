//! Every kernel paging mode of every arch boots the whole sequence to the Memory line on
//! its QEMU machine: zones, node ranges and the present total do not depend on the mode
//! (they are bytes of the same machine) except where the mode moves the lowmem limit
//! (i386), every page of memory is exactly one of free or reserved after the boot (page
//! conservation), and the mode's linear map translates (LoongArch has none: its linear map
//! is the direct-mapping window).

use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::{run_mode, BootReport};
use archmm_host::machine::Machine;

fn block(log: &[String], from: &str, to: &str) -> Vec<String> {
    log.iter().skip_while(|l| !l.starts_with(from)).take_while(|l| !l.starts_with(to)).cloned().collect()
}

fn total(log: &[String]) -> String {
    let m = log.iter().find(|l| l.starts_with("Memory: ")).expect("Memory line");
    m.split('/').nth(1).and_then(|t| t.split('K').next()).expect("total").to_string()
}

/// Every page of memblock memory has metadata and is free or reserved (nothing is
/// allocated once the boot is over), and the free ones are what the allocator counts.
fn check_conservation(mode: &str, r: &BootReport) {
    let c = &r.census;
    assert_eq!(c.absent, 0, "{mode}: memory pages without a state: {c:?}");
    assert_eq!(c.free + c.pcp + c.reserved + c.allocated, c.present, "{mode}: {c:?}");
    assert_eq!(
        (c.free, c.pcp),
        (c.allocator_free, c.allocator_pcp),
        "{mode}: free pages disagree with the allocator: {c:?}"
    );
    assert!(c.allocator_free >= r.memory.free_pages, "{mode}: init memory freed after the Memory line only adds");
    assert_eq!(c.present, r.memory.physpages, "{mode}: present pages disagree with the zones");
}

/// An arch, its machine's memory, a physical address its linear map must reach, whether
/// its modes share the zone layout, and its modes with the virtual address of that
/// physical address's linear alias (None: the arch builds no linear map table).
type Group = (ArchId, u64, u64, bool, &'static [(&'static str, Option<u64>)]);

#[test]
fn every_kernel_mode_boots() {
    const G: u64 = 1 << 30;
    let groups: [Group; 8] = [
        (
            ArchId::X86_64,
            4 * G,
            0x1_0000_0000,
            true,
            &[("x86_64-4level", Some(0xffff_8881_0000_0000)), ("x86_64-5level", Some(0xff11_0001_0000_0000))],
        ),
        // arm64 and riscv64 put the start of RAM at PAGE_OFFSET (memstart_addr,
        // phys_ram_base).
        (
            ArchId::Arm64,
            4 * G,
            0x4000_0000,
            true,
            &[
                ("arm64-4k-39", Some(0xffff_ff80_0000_0000)),
                ("arm64-4k-48", Some(0xffff_0000_0000_0000)),
                ("arm64-16k-36", Some(0xffff_fff0_0000_0000)),
                ("arm64-16k-47", Some(0xffff_8000_0000_0000)),
                ("arm64-16k-48", Some(0xffff_0000_0000_0000)),
                ("arm64-64k-42", Some(0xffff_fc00_0000_0000)),
                ("arm64-64k-48", Some(0xffff_0000_0000_0000)),
                ("arm64-64k-52", Some(0xfff0_0000_0000_0000)),
            ],
        ),
        (
            ArchId::Riscv64,
            4 * G,
            0x8020_0000,
            true,
            &[
                ("riscv64-sv39", Some(0xffff_ffd8_0020_0000)),
                ("riscv64-sv48", Some(0xffff_af80_0020_0000)),
                ("riscv64-sv57", Some(0xff60_0000_0020_0000)),
            ],
        ),
        // 3G/1G split: lowmem at 0xc0000000; PAE and 2-level paging have different MAXMEM;
        // 3 GiB, all below 4 GiB, so that 2-level paging (32-bit physical addresses) sees it all.
        (
            ArchId::I386,
            3 * G,
            0x100_0000,
            false,
            &[("i386-2level", Some(0xc100_0000)), ("i386-pae", Some(0xc100_0000))],
        ),
        // __va(pa) = pa - PHYS_OFFSET (0x40000000) + PAGE_OFFSET (0xc0000000).
        (ArchId::Arm, 2 * G, 0x4100_0000, true, &[("arm-short", Some(0xc100_0000)), ("arm-lpae", Some(0xc100_0000))]),
        (
            ArchId::Loongarch64,
            4 * G,
            0x9000_0000,
            false,
            &[("loongarch64-3level-16k", None), ("loongarch64-4level-4k", None)],
        ),
        // The identity mapping.
        (
            ArchId::S390,
            4 * G,
            0x100_0000,
            true,
            &[
                ("s390x-3level", Some(0x100_0000)),
                ("s390x-4level", Some(0x100_0000)),
                ("s390x-5level", Some(0x100_0000)),
            ],
        ),
        (
            ArchId::Powerpc,
            4 * G,
            0x100_0000,
            true,
            &[
                ("powerpc64-radix-4k", Some(0xc000_0000_0100_0000)),
                ("powerpc64-radix-64k", Some(0xc000_0000_0100_0000)),
            ],
        ),
    ];
    // The expectations above are this test's own; the modes come from the registry, and a
    // kernel mode it gains without an expectation here fails.
    for m in archmm::arch::modes::MODES.iter().filter(|m| m.kernel) {
        let listed = groups.iter().any(|g| g.0 == m.arch_id && g.4.iter().any(|&(name, _)| name == m.name));
        assert!(listed, "kernel mode {} has no expectation in this test", m.name);
    }
    for (arch, mem, pa, same_zones, modes) in groups {
        let m = Machine::qemu(arch, mem, 1, None).expect("machine");
        let mut first: Option<(Vec<String>, String)> = None;
        for &(mode, va) in modes {
            let r = run_mode(mode, &m, BootOptions::default(), va)
                .expect("a kernel mode")
                .unwrap_or_else(|(log, e)| panic!("{mode}: {e}\n{}", log.join("\n")));
            let zones = block(&r.log, "Zone ranges:", "Movable zone");
            assert!(zones.len() >= 2, "{mode}: {:?}", r.log);
            check_conservation(mode, &r);
            let t = total(&r.log);
            match &first {
                None => first = Some((zones, t)),
                Some((z0, t0)) => {
                    if same_zones {
                        assert_eq!(&zones, z0, "{mode}: zone ranges differ from the arch's first mode");
                    }
                    assert_eq!(&t, t0, "{mode}: present memory differs");
                }
            }
            assert_eq!(r.paging_mode, mode);
            let Some(_) = va else {
                assert_eq!(r.pgd, None, "{mode}: no table is built for a window-mapped linear map");
                continue;
            };
            let leaf = r.walk.last().unwrap_or_else(|| panic!("{mode}: no walk"));
            assert_eq!(leaf.kind, "leaf", "{mode}: {:?}", r.walk);
            let size = leaf.size.expect("leaf size");
            assert_eq!(leaf.target.expect("leaf pa") + (pa & (size - 1)), pa, "{mode}: linear map translates");
        }
    }
    assert!(
        run_mode("arm64-4k-48-ttbr0", &Machine::default(), BootOptions::default(), None).is_none(),
        "a user-half mode is not a kernel mode"
    );
}
