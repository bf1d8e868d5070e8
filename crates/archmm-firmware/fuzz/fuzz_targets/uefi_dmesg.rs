//! Fuzzes the `efi=debug` dmesg parser; accepted descriptors must print and
//! re-parse to the same descriptors.
#![no_main]

use archmm_firmware::uefi::dmesg::parse_efi_memmap;
use archmm_firmware::uefi::{write_generic_memmap_line, write_x86_memmap_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(v) = parse_efi_memmap::<32>(text) else {
        return;
    };
    let mut x86 = String::new();
    let mut generic = String::new();
    for (i, md) in v.iter().enumerate() {
        write_x86_memmap_line(&mut x86, i, md).unwrap();
        write_generic_memmap_line(&mut generic, md).unwrap();
    }
    for s in [&x86, &generic] {
        let again = parse_efi_memmap::<32>(s).expect("printed map must re-parse");
        assert_eq!(again.as_slice(), v.as_slice(), "{s}");
    }
});
