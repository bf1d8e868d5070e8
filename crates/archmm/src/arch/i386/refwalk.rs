//! The i386 modes' reference walker: 32-bit and PAE paging are walked by the x86 walker of
//! [`crate::arch::x86_64::refwalk`] (Intel SDM vol. 3A 4.3 and 4.4), configured as Linux
//! configures an i386 kernel.

use crate::arch::x86_64::refwalk::{walk, X86Config};
use crate::addr::{PhysAddr, VirtAddr};
use crate::physmem::PhysMem;
use crate::refwalk::WalkResult;

/// `i386-2level`: CR3 = root, CR4.PSE=1, CR4.PAE=0 (no NX in this mode), MAXPHYADDR 40
/// (PSE-36), Linux's PAT. `i386-pae`: CR3 = root (the 32-byte PDPT), CR4.PAE=1, EFER.NXE=1,
/// MAXPHYADDR 52, Linux's PAT.
impl<const PAE: bool> crate::refwalk::RefWalk for crate::arch::i386::I386Paging<PAE> {
    fn ref_walk(mem: &impl PhysMem, root: PhysAddr, va: VirtAddr) -> WalkResult {
        let (root, va) = (root.0, va.0);
        let cfg = if PAE { X86Config::linux_i386_pae(root) } else { X86Config::linux_i386_2level(root) };
        walk(mem, &cfg, va)
    }
}
