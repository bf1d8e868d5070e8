//! Scale: a 1 TiB machine boots to the Memory line on sparse backing memory, with only
//! metadata and tables becoming real memory.

use archmm::arch::ArchId;
use archmm::boot::BootOptions;
use archmm_host::emulator::run_boot;
use archmm_host::machine::Machine;

#[test]
fn one_tib_machine_boots_to_the_memory_line() {
    let m = Machine::qemu(ArchId::X86_64, 1 << 40, 1, None).expect("machine");
    let r = run_boot(ArchId::X86_64, &m, BootOptions::default()).unwrap_or_else(|(_, e)| panic!("{e}"));
    // QEMU puts the RAM above 3 GiB at 1 TiB (it would run into the HyperTransport hole).
    assert!(r.log.iter().any(|l| l == "  node   0: [mem 0x0000010000000000-0x000001ff3fffffff]"), "{:?}", r.log);
    let mem = r.log.iter().find(|l| l.starts_with("Memory: ")).expect("Memory line");
    // Present pages: 0x9e + 0xbfee0 below 4 GiB plus (1 TiB - 3 GiB) above, in KiB.
    let present_k = (0x9e + 0xbfee0 + (((1u64 << 40) - (3 << 30)) >> 12)) * 4;
    assert!(mem.contains(&format!("/{present_k}K available")), "{mem}");
    // The memmap of 1 TiB would be 8 GiB at 32 bytes a page; only block heads and reserved
    // pages were written.
    assert!(r.memory.memmap_bytes >= 8 << 30);
    assert!(r.memory.free_pages > 250_000_000);
}
