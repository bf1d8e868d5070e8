//! Fuzzes the multiboot2 tag walker and memory map tag parser.
#![no_main]

use archmm_firmware::multiboot2::{find_mmap, tags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tags(data) {
        let _ = t.count();
    }
    if let Ok(m) = find_mmap(data) {
        for e in m {
            let _ = e.to_e820();
        }
    }
});
