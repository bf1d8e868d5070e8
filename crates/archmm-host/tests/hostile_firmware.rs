//! Hostile firmware data through the whole bring-up: random e820 tables (overlapping,
//! unaligned, zero-sized, wrapping, absurd types, memory anywhere in the 64-bit space) and
//! random device-tree-style banks and reservations must boot or fail with a typed error,
//! never panic. Sizes are bounded so each case stays fast; addresses are not.

use archmm::arch::ArchId;
use archmm::boot::{BootOptions, MemBank, ResvRange};
use archmm::firmware::e820::{E820Entry, E820Type};
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..1 << 36).prop_map(|a| a & !0xfff),
        1 => 0u64..1 << 36,
        1 => any::<u64>(),
        1 => (0u64..16).prop_map(|k| u64::MAX - k * 0x1000),
    ]
}

/// Sizes up to 64 GiB (wrapping comes from addresses near the top): a real machine of
/// hundreds of terabytes is not hostile, only slow to emulate page by page.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..1 << 30).prop_map(|s| s & !0xfff),
        1 => 0u64..1 << 31,
        1 => Just(0u64),
        1 => 0u64..1 << 36,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, .. ProptestConfig::default() })]
    #[test]
    fn hostile_e820_never_panics(entries in proptest::collection::vec((addr(), size(), 0u32..20), 0..24), srat in proptest::collection::vec((0u32..70, addr(), size()), 0..4)) {
        let mut m = Machine::qemu(ArchId::X86_64, 1 << 30, 1, None).unwrap();
        m.e820 = entries.iter().map(|&(a, s, t)| E820Entry::new(a, s, E820Type(t))).collect();
        m.srat = srat
            .iter()
            .map(|&(n, a, s)| archmm::firmware::e820::dmesg::SratMemAffinity { node: n, pxm: n, start: a, end: a.saturating_add(s).saturating_sub(1), hotplug: n % 3 == 0, nonvolatile: false })
            .collect();
        let _ = run_boot(ArchId::X86_64, &m, BootOptions::default());
    }

    #[test]
    fn hostile_banks_never_panic(banks in proptest::collection::vec((addr(), size(), proptest::option::of(0u32..70), any::<bool>()), 0..8), resv in proptest::collection::vec((addr(), size(), any::<bool>()), 0..8), arm in any::<bool>()) {
        let arch = if arm { ArchId::Arm64 } else { ArchId::Riscv64 };
        let mut m = Machine::qemu(arch, 1 << 30, 1, None).unwrap();
        m.banks = banks.iter().map(|&(base, size, nid, hotplug)| MemBank { base, size, nid, hotplug }).collect();
        m.reserved = resv.iter().map(|&(base, size, nomap)| ResvRange { base, size, nomap }).collect();
        let opts = BootOptions { movable_node: arm, ..BootOptions::default() };
        let _ = run_boot(arch, &m, opts);
    }
}
