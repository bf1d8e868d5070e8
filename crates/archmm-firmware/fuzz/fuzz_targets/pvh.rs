//! Fuzzes the PVH start_info, memmap and modlist parsers.
#![no_main]

use archmm_firmware::e820::pvh::{parse_memmap, parse_modlist, parse_start_info, pvh_e820_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_start_info(data);
    // Same bytes as a start_info with the magic forced in.
    if data.len() >= 4 {
        let mut v = data.to_vec();
        v[..4].copy_from_slice(&0x336e_c578u32.to_le_bytes());
        if let Ok(si) = parse_start_info(&v) {
            if let Some(m) = si.memmap {
                let _ = parse_memmap(data, m.entries).map(|e| e.count());
            }
            let _ = parse_modlist(data, si.nr_modules).map(|m| m.count());
        }
    }
    let count = data.first().copied().unwrap_or(0) as u32;
    if let Ok(entries) = parse_memmap(data.get(1..).unwrap_or(&[]), count) {
        if let Ok(mut t) = pvh_e820_table::<200>(entries) {
            let _ = t.update_table();
        }
    }
    let _ = parse_memmap(data, u32::MAX);
});
