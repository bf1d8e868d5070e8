//! QEMU 7.2's `pseries` (hw/ppc/spapr.c) with SLOF: RAM from 0 as the memory nodes
//! spapr_populate_memory() lays out; the kernel runs at real address 0.

use crate::boot::MemBank;
use crate::machine::{DtbAt, MachineSink, NumaSuffix, QemuError, QemuModel, QemuRequest, load, node_sizes};

const MIB: u64 = 1 << 20;

/// powerpc64 (6.1.0-57, pseries) runs its kernel at real address 0; its memblock
/// reservation ends at klimit, 0x2880d00.
pub const KERNEL: (u64, u64) = (0, 0x288_0d00);

/// spapr_populate_memory()'s memory nodes: the RMA, the largest power of two within node 0,
/// at 0; then each node's rest in pieces that are powers of two no larger than their
/// address's alignment, each a /memory@<base> node with ibm,associativity naming its NUMA
/// node (checked against QEMU's dumped trees for 768M to 12G and a 3G+3G two-node machine).
pub fn banks(mem: u64, nodes: u32, out: &mut dyn MachineSink) {
    let mut start = 0u64;
    for (n, per) in node_sizes(mem, nodes, 28).enumerate() {
        let nid = Some(n as u32); // every node has ibm,associativity, all zeros without -numa
        let mut left = per;
        if per == 0 {
            continue;
        }
        if start == 0 {
            let rma = 1u64 << (63 - per.leading_zeros());
            out.bank(MemBank { base: 0, size: rma, nid, hotplug: false });
            start = rma;
            left -= rma;
        }
        while left > 0 {
            let piece = (1u64 << (63 - left.leading_zeros())).min(1 << start.trailing_zeros());
            out.bank(MemBank { base: start, size: piece, nid, hotplug: false });
            start += piece;
            left -= piece;
        }
    }
}

impl<const PAGE_SHIFT: u32> QemuModel for super::Ppc64<PAGE_SHIFT> {
    const QEMU_MACHINES: &'static [&'static str] = &["pseries"];

    /// The built-in machine. SLOF's FDT copy (64 KiB) sits below 768 MiB (an assumption).
    ///
    /// # Errors
    /// None beyond the checked request's.
    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        let fdt_top = req.mem.min(768 * MIB);
        out.name(format_args!("QEMU pseries (device tree, radix MMU), {} MiB{}", req.mem / MIB, NumaSuffix(req.nodes)));
        banks(req.mem, req.nodes, out);
        out.kernel(KERNEL.0, KERNEL.1);
        out.dtb(fdt_top - 2 * MIB, fdt_top - 2 * MIB + 0x1_0000);
        Ok(())
    }

    /// The kernel at real address 0 from the start of RAM; a blob 2 MiB below the end of RAM.
    fn qemu_loader(ram_start: u64, ram_end: u64, dtb: Option<u64>, out: &mut dyn MachineSink) {
        load(out, KERNEL, 0, (ram_start, ram_end), dtb, DtbAt::BelowEnd(2 * MIB));
    }
}
