//! Fuzzes the FDT validator, the tree walker and Linux's memory scan.
#![no_main]

use archmm_firmware::fdt::memory::scan;
use archmm_firmware::fdt::Fdt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(fdt) = Fdt::new(data) else {
        return;
    };
    let _ = fdt.tokens().count();
    let _ = fdt.mem_reservations().count();
    // Walk every node, bounded by the token count.
    fn walk(n: archmm_firmware::fdt::Node<'_>, depth: usize) {
        let _ = n.properties().count();
        let _ = n.property_str("status");
        for c in n.children() {
            walk(c, depth + 1);
        }
    }
    walk(fdt.root(), 0);
    for p in [
        "/",
        "/chosen",
        "/reserved-memory",
        "/memory",
        "/a/b/c",
        "//",
    ] {
        let _ = fdt.find_node(p);
    }
    if let Ok(m) = scan(&fdt) {
        let _ = m.static_reserved().count();
        for n in m.reserved_nodes.iter() {
            if let archmm_firmware::fdt::memory::ReservedMemKind::Dynamic {
                alloc_ranges: Some(r),
                ..
            } = n.kind
            {
                let _ = r.count();
            }
        }
        let _ = m.chosen.bootargs_str();
    }
});
