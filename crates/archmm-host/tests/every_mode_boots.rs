//! Every kernel paging mode of the arches whose bring-up runs on the host boots the whole
//! sequence to the Memory line: zones, node ranges and the present total do not depend on
//! the mode (they are bytes of the same machine), and the mode's linear map translates.

use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::run_mode;
use archmm_host::machine::{Machine, X86MachineType};

fn block(log: &[String], from: &str, to: &str) -> Vec<String> {
    log.iter().skip_while(|l| !l.starts_with(from)).take_while(|l| !l.starts_with(to)).cloned().collect()
}

fn total(log: &[String]) -> String {
    let m = log.iter().find(|l| l.starts_with("Memory: ")).expect("Memory line");
    m.split('/').nth(1).and_then(|t| t.split('K').next()).expect("total").to_string()
}

/// An arch, a physical address its linear map must reach, and its modes with PAGE_OFFSET.
type Group = (ArchId, u64, &'static [(&'static str, u64)]);

#[test]
fn every_kernel_mode_boots() {
    let groups: [Group; 3] = [
        (ArchId::X86_64, 0x1_0000_0000, &[("x86_64-4level", 0xffff_8880_0000_0000), ("x86_64-5level", 0xff11_0000_0000_0000)]),
        (
            ArchId::Arm64,
            0x4000_0000,
            &[
                ("arm64-4k-39", 0xffff_ff80_0000_0000),
                ("arm64-4k-48", 0xffff_0000_0000_0000),
                ("arm64-16k-36", 0xffff_fff0_0000_0000),
                ("arm64-16k-47", 0xffff_8000_0000_0000),
                ("arm64-16k-48", 0xffff_0000_0000_0000),
                ("arm64-64k-42", 0xffff_fc00_0000_0000),
                ("arm64-64k-48", 0xffff_0000_0000_0000),
                ("arm64-64k-52", 0xfff0_0000_0000_0000),
            ],
        ),
        (
            ArchId::Riscv64,
            0x8020_0000,
            &[("riscv64-sv39", 0xffff_ffd8_0000_0000), ("riscv64-sv48", 0xffff_af80_0000_0000), ("riscv64-sv57", 0xff60_0000_0000_0000)],
        ),
    ];
    for (arch, pa, modes) in groups {
        let m = Machine::qemu(arch, 4 << 30, 1, X86MachineType::Pc).expect("machine");
        let mut first: Option<(Vec<String>, String)> = None;
        for &(mode, page_offset) in modes {
            let r = run_mode(mode, &m, BootOptions::default(), Some(page_offset + pa))
                .expect("a kernel mode")
                .unwrap_or_else(|(log, e)| panic!("{mode}: {e}\n{}", log.join("\n")));
            let zones = block(&r.log, "Zone ranges:", "Movable zone");
            assert!(zones.len() >= 3, "{mode}: {:?}", r.log);
            let t = total(&r.log);
            match &first {
                None => first = Some((zones, t)),
                Some((z0, t0)) => {
                    assert_eq!(&zones, z0, "{mode}: zone ranges differ from the arch's first mode");
                    assert_eq!(&t, t0, "{mode}: present memory differs");
                }
            }
            assert_eq!(r.paging_mode, mode);
            let leaf = r.walk.last().unwrap_or_else(|| panic!("{mode}: no walk"));
            assert_eq!(leaf.kind, "leaf", "{mode}: {:?}", r.walk);
            let size = leaf.size.expect("leaf size");
            assert_eq!(leaf.target.expect("leaf pa") + (pa & (size - 1)), pa, "{mode}: linear map translates");
        }
    }
    assert!(run_mode("arm64-4k-48-ttbr0", &Machine::default(), BootOptions::default(), None).is_none(), "a user-half mode is not a kernel mode");
}
