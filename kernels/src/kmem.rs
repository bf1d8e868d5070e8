//! Physical memory as the kernel reaches it: identity-mapped (or with the MMU off) until
//! paging_init, then through the linear map archmm built.

use archmm::addr::PhysAddr;
use archmm::physmem::PhysMem;
use core::sync::atomic::{AtomicU64, Ordering};

/// Virtual minus physical address of every RAM byte: 0 before the switch, the linear
/// map's offset after.
static OFFSET: AtomicU64 = AtomicU64::new(0);

/// The kernel's [`PhysMem`].
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelMem;

impl KernelMem {
    /// From now on reach physical memory at `pa + offset` (the linear map is live).
    pub fn use_linear_map(offset: u64) {
        OFFSET.store(offset, Ordering::SeqCst);
    }

    /// The virtual address of `pa`.
    #[inline]
    pub fn va(pa: u64) -> u64 {
        pa.wrapping_add(OFFSET.load(Ordering::Relaxed))
    }

    #[inline]
    fn ptr(pa: PhysAddr) -> *mut u8 {
        Self::va(pa.0) as *mut u8
    }
}

// SAFETY (for every block below): the core only touches physical memory it owns (memory
// memblock handed out, or RAM the firmware described), and `va` maps every such byte: the
// firmware's identity map before paging_init, the linear map of all RAM after. The core
// never hands out overlapping mutable views: it reads and writes through these calls only.
impl PhysMem for KernelMem {
    #[inline]
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        // SAFETY: see above; `buf` is a distinct Rust buffer.
        unsafe { core::ptr::copy_nonoverlapping(Self::ptr(pa), buf.as_mut_ptr(), buf.len()) }
    }
    #[inline]
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        // SAFETY: see above.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), Self::ptr(pa), buf.len()) }
    }
    #[inline]
    fn zero(&self, pa: PhysAddr, len: u64) {
        // SAFETY: see above.
        unsafe { core::ptr::write_bytes(Self::ptr(pa), 0, len as usize) }
    }
    #[inline]
    fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) {
        // SAFETY: see above; `ptr::copy` allows overlap.
        unsafe { core::ptr::copy(Self::ptr(src), Self::ptr(dst), len as usize) }
    }
    #[inline]
    fn read_u64(&self, pa: PhysAddr) -> u64 {
        // SAFETY: see above; the core's u64 fields are 8-byte aligned, but unaligned reads
        // are allowed for robustness.
        u64::from_le(unsafe { core::ptr::read_unaligned(Self::ptr(pa) as *const u64) })
    }
    #[inline]
    fn write_u64(&self, pa: PhysAddr, v: u64) {
        // SAFETY: see above.
        unsafe { core::ptr::write_unaligned(Self::ptr(pa) as *mut u64, v.to_le()) }
    }
    #[inline]
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        // SAFETY: see above; the core passes 4-byte aligned words (its per-CPU page-list
        // locks) that it only reaches through these atomics while they are shared.
        let a = unsafe { core::sync::atomic::AtomicU32::from_ptr(Self::ptr(pa).cast()) };
        a.compare_exchange(current, new, Ordering::Acquire, Ordering::Relaxed)
    }
    #[inline]
    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        // SAFETY: as in `compare_exchange_u32`.
        let a = unsafe { core::sync::atomic::AtomicU32::from_ptr(Self::ptr(pa).cast()) };
        a.store(v, Ordering::Release)
    }
}
