//! Fuzzes the UEFI memory map parser and both Linux mappings.
#![no_main]

use archmm_firmware::e820::E820Table;
use archmm_firmware::uefi::{
    add_x86_efi_memmap, generic_region, write_generic_memmap_line, write_x86_memmap_line,
    x86_e820_type, MemoryMap,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let desc_size = 40 + 8 * usize::from(sel & 3);
    let len = rest.len() - rest.len() % desc_size;
    let _ = MemoryMap::new(rest, usize::from(sel), 1);
    let Ok(map) = MemoryMap::new(&rest[..len], desc_size, 1) else {
        return;
    };
    let mut s = String::new();
    for (i, md) in map.iter().enumerate() {
        let _ = x86_e820_type(&md, sel & 4 != 0);
        for shift in [12, 14, 16] {
            if let Ok(r) = generic_region(&md, shift, sel & 8 != 0) {
                assert_eq!(r.base & ((1 << shift) - 1), 0);
                assert!(u128::from(r.base) + u128::from(r.size) <= 1u128 << 64);
            }
        }
        s.clear();
        write_x86_memmap_line(&mut s, i, &md).unwrap();
        write_generic_memmap_line(&mut s, &md).unwrap();
    }
    let mut t: E820Table<64> = E820Table::new();
    let _ = add_x86_efi_memmap(&mut t, &map, sel & 4 != 0);
});
