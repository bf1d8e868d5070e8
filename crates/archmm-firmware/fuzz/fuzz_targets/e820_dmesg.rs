//! Fuzzes the `BIOS-e820:` and `SRAT: Node` dmesg parsers; anything they
//! accept must print and re-parse to the same table.
#![no_main]

use archmm_firmware::e820::dmesg::{
    parse_bios_e820, parse_e820_lines, parse_srat, SratMemAffinity,
};
use archmm_firmware::e820::E820Table;
use archmm_firmware::FixedVec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let _: Result<FixedVec<SratMemAffinity, 16>, _> = parse_srat(text);
    let _: Result<E820Table<16>, _> = parse_e820_lines(text, "modified");
    if let Ok(t) = parse_bios_e820::<64>(text) {
        let mut s = String::new();
        t.write_table(&mut s, "BIOS-e820").unwrap();
        let again: E820Table<64> = parse_bios_e820(&s).expect("printed table must re-parse");
        assert_eq!(again.entries(), t.entries());
        let mut t = t;
        let _ = t.update_table();
    }
});
