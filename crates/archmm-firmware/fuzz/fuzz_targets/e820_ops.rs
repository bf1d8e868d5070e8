//! Fuzzes sequences of E820 table operations and checks update_table's
//! output invariants after each sanitise.
#![no_main]

use archmm_firmware::e820::{E820Table, E820Type, E820UpdateError};
use libfuzzer_sys::fuzz_target;

const TYPES: [u32; 10] = [0, 1, 2, 3, 4, 5, 7, 12, 128, 0xefff_ffff];

fn u64_at(d: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    // Bias towards small numbers and a few extremes so ranges overlap.
    match b[7] >> 6 {
        0 => u64::from_le_bytes(b) & 0xffff,
        1 => u64::from_le_bytes(b) & 0xffff_ffff,
        2 => u64::MAX - (u64::from_le_bytes(b) & 0xffff),
        _ => u64::from_le_bytes(b),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut t: E820Table<24> = E820Table::new();
    for op in data.chunks(18) {
        let code = op[0];
        let ty = E820Type(TYPES[usize::from(op.get(1).copied().unwrap_or(0)) % TYPES.len()]);
        let ty2 = E820Type(TYPES[usize::from(op.get(1).copied().unwrap_or(0) >> 4) % TYPES.len()]);
        let a = u64_at(op, 2);
        let s = u64_at(op, 10);
        match code % 6 {
            0 | 1 => {
                let _ = t.add(a, s, ty);
            }
            2 => {
                let before = t;
                match t.update_table() {
                    Ok(()) | Err(E820UpdateError::Truncated { .. }) => {
                        let e = t.entries();
                        for w in e.windows(2) {
                            assert!(w[0].end().unwrap() <= w[1].addr, "{e:?}");
                        }
                        assert!(e.iter().all(|x| x.size != 0 && x.ty.0 != 0), "{e:?}");
                    }
                    Err(_) => assert_eq!(t, before),
                }
            }
            3 => {
                let _ = t.range_update(a, s, ty, ty2);
            }
            4 => {
                let _ = t.range_remove(a, s, ty, code & 0x80 != 0);
            }
            _ => {
                let _ = t.end_pfn(a >> 12, ty, s >> 12);
                let _ = t.mapped_any(a, s, Some(ty));
                let _ = t.mapped_all(a, s, None);
                let mut out = String::new();
                t.write_table(&mut out, "x").unwrap();
            }
        }
    }
});
