//! UEFI memory maps into the bring-up: the x86 path (EFI map to e820, as the EFI stub and
//! do_add_efi_memmap() build it) and the generic path (reserve_regions(): add, NOMAP,
//! reserve).

use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm::firmware::uefi::{EfiMemoryAttribute, EfiMemoryType, MemoryDescriptor};
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;

const WB: u64 = 0x8;
const UC: u64 = 0x1;
const RUNTIME: u64 = 1 << 63;

fn md(ty: EfiMemoryType, start: u64, pages: u64, attr: u64) -> MemoryDescriptor {
    MemoryDescriptor {
        ty,
        phys_start: start,
        num_pages: pages,
        attribute: EfiMemoryAttribute(attr),
        ..Default::default()
    }
}

/// Raw map with the 48-byte descriptors EDK2 uses (40 bytes + padding).
fn raw(descs: &[MemoryDescriptor]) -> Vec<u8> {
    let mut v = Vec::new();
    for d in descs {
        v.extend_from_slice(&d.to_bytes());
        v.extend_from_slice(&[0u8; 8]);
    }
    v
}

fn lines(arch: ArchId, m: &Machine) -> Vec<String> {
    run_boot(arch, m, BootOptions::default()).expect("boots").log
}

#[test]
fn arm64_runtime_regions_are_nomap_and_split_node_ranges() {
    // An EDK2-like map for a 1 GiB virt machine: runtime services data in the middle
    // (kept out of the linear map), ACPI reclaim reserved, MMIO ignored.
    let map = [
        md(EfiMemoryType::CONVENTIONAL_MEMORY, 0x4000_0000, 0x2_0000, WB),
        md(EfiMemoryType::RUNTIME_SERVICES_DATA, 0x6000_0000, 0x100, WB | RUNTIME),
        md(EfiMemoryType::ACPI_RECLAIM_MEMORY, 0x6010_0000, 0x10, WB),
        md(EfiMemoryType::BOOT_SERVICES_DATA, 0x6011_0000, 0x1fef0, WB),
        md(EfiMemoryType::MEMORY_MAPPED_IO, 0x0400_0000, 0x10, UC | RUNTIME),
    ];
    let m = Machine::from_uefi(&raw(&map), 48, ArchId::Arm64).expect("parses");
    let l = lines(ArchId::Arm64, &m);
    let nodes: Vec<&String> = l.iter().filter(|s| s.starts_with("  node ")).collect();
    assert_eq!(
        nodes,
        [
            "  node   0: [mem 0x0000000040000000-0x000000005fffffff]",
            "  node   0: [mem 0x0000000060000000-0x00000000600fffff]",
            "  node   0: [mem 0x0000000060100000-0x000000007fffffff]",
        ]
    );
    assert!(l.contains(&"  DMA      [mem 0x0000000040000000-0x000000007fffffff]".to_string()), "{l:?}");
}

#[test]
fn x86_efi_map_becomes_e820() {
    let map = [
        md(EfiMemoryType::BOOT_SERVICES_CODE, 0, 0xa0, WB),
        md(EfiMemoryType::CONVENTIONAL_MEMORY, 0x10_0000, 0x7f00, WB),
        md(EfiMemoryType::ACPI_RECLAIM_MEMORY, 0x800_0000, 0x10, WB),
        md(EfiMemoryType::CONVENTIONAL_MEMORY, 0x801_0000, 0x37ff0, WB),
        md(EfiMemoryType::RUNTIME_SERVICES_CODE, 0x4000_0000, 0x100, WB | RUNTIME),
    ];
    let m = Machine::from_uefi(&raw(&map), 48, ArchId::X86_64).expect("parses");
    let l = lines(ArchId::X86_64, &m);
    let e820: Vec<&String> = l.iter().filter(|s| s.starts_with("BIOS-e820")).collect();
    assert_eq!(
        e820,
        [
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff] usable",
            "BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable",
            "BIOS-e820: [mem 0x0000000008000000-0x000000000800ffff] ACPI data",
            "BIOS-e820: [mem 0x0000000008010000-0x000000003fffffff] usable",
            "BIOS-e820: [mem 0x0000000040000000-0x00000000400fffff] reserved",
        ]
    );
}

#[test]
fn malformed_maps_are_errors() {
    assert!(Machine::from_uefi(&[0u8; 47], 48, ArchId::Arm64).is_err(), "partial descriptor");
    assert!(
        Machine::from_uefi(&raw(&[md(EfiMemoryType::CONVENTIONAL_MEMORY, 0x1000, 1, WB)]), 12, ArchId::Arm64).is_err(),
        "descriptor size below 40"
    );
    let mmio_only = raw(&[md(EfiMemoryType::MEMORY_MAPPED_IO, 0x1000, 1, UC)]);
    assert!(Machine::from_uefi(&mmio_only, 48, ArchId::Arm64).is_err(), "no usable memory");
    let wraps = raw(&[md(EfiMemoryType::CONVENTIONAL_MEMORY, u64::MAX - 0xfff, 2, WB)]);
    assert!(Machine::from_uefi(&wraps, 48, ArchId::Arm64).is_err(), "wrapping range");
}
