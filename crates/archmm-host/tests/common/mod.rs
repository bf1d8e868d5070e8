//! Helpers shared by the tests that read Linux captures (tests/data/linux).

// Each test crate that includes this module uses only some of its helpers.
#![allow(dead_code)]

use std::path::Path;

/// The CPU count a capture's Linux booted with: `-smp N` in its qemu-args.txt, else 1.
pub fn capture_cpus(capture: &str) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linux").join(capture).join("qemu-args.txt");
    let args = std::fs::read_to_string(path).unwrap_or_default();
    let mut it = args.split_whitespace();
    while let Some(a) = it.next() {
        if a == "-smp" {
            return it.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        }
    }
    1
}

/// The parenthesis of a `Memory:` line (section sizes, CMA, highmem) but for its
/// `NK reserved` figure, which depends on what each kernel allocated.
pub fn memory_line_sections(line: &str) -> Vec<String> {
    let inner = line.split('(').nth(1).unwrap_or("");
    inner.split(", ").filter(|f| !f.ends_with("K reserved")).map(str::to_string).collect()
}
