//! Fuzzes the boot_params zero-page parser and the fallback table.
#![no_main]

use archmm_firmware::e820::boot_params::{fallback_table, zero_page_entries};
use archmm_firmware::e820::E820Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Let short inputs describe a zero page: pad to the real size so the
    // table area is reachable, with the first bytes used as the table.
    let mut page = [0u8; 4096];
    if data.len() < 0x2d0 {
        let n = data.len().min(0xa00);
        page[0x1e8] = data.first().copied().unwrap_or(0);
        page[0x2d0..0x2d0 + n].copy_from_slice(&data[..n]);
    }
    for zp in [data, &page[..]] {
        if let Ok(entries) = zero_page_entries(zp) {
            assert!(entries.len() <= 128);
            let _ = entries.count();
        }
        if let Ok(mut t) = E820Table::<160>::from_boot_params(zp) {
            let _ = t.update_table();
            let mut s = String::new();
            t.write_table(&mut s, "BIOS-e820").unwrap();
        }
        let _ = fallback_table::<4>(zp);
    }
});
