//! qemu-system-i386's `pc` and `q35`: the x86 model ([`crate::arch::x86_64::qemu`]) with
//! the qemu32 CPU, whose 36 physical address bits leave no HyperTransport hole below 1 TiB
//! in the map, and the Debian 6.1 686-pae kernel.

use crate::machine::{MachineSink, QemuError, QemuModel, QemuRequest};
use crate::arch::x86_64::qemu::Variant;

/// Debian's 6.1.0-50-686-pae kernel on QEMU pc: _text at 16 MiB, its memblock reservation
/// to 0x1f24000 (the image and its brk).
pub const KERNEL: (u64, u64) = (0x100_0000, 0x1f2_4000);

/// The i386 machine.
pub const I386: Variant = Variant { label: "QEMU (i386)", ht_hole: false, kernel: KERNEL };

impl<const PAE: bool> QemuModel for super::I386<PAE> {
    const QEMU_MACHINES: &'static [&'static str] = crate::arch::x86_64::qemu::MACHINES;

    fn qemu_machine(req: &QemuRequest<'_>, out: &mut dyn MachineSink) -> Result<(), QemuError> {
        crate::arch::x86_64::qemu::machine(req, out, I386)
    }

    fn qemu_loader(_ram_start: u64, _ram_end: u64, _dtb: Option<u64>, out: &mut dyn MachineSink) {
        crate::arch::x86_64::qemu::loader(I386, out)
    }
}
