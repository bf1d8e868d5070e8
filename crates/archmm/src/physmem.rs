//! Access to physical memory.
//!
//! The core never dereferences a physical address. Everything it stores in physical memory
//! (memblock's grown region arrays, page tables, the memmap) goes through one small trait,
//! [`PhysMem`], implemented
//! - in a kernel by the linear map: `phys + offset`, a plain load or store after inlining;
//! - on the host by the emulator's sparse, page-granular backing store, so a machine with
//!   terabytes of "RAM" costs only what is touched.
//!
//! The trait takes `&self`: a kernel's linear map needs no exclusive borrow, and the host
//! store synchronises internally, so several CPUs (threads) can share one implementation.
//! Callers are monomorphised over the implementation; there is no dynamic dispatch on hot
//! paths. Accesses are infallible: the core only touches memory it owns (memblock
//! allocated it, or the firmware described it as RAM); an implementation may panic on an
//! access outside RAM, which is a bug in the core, never the result of bad input.

use crate::addr::PhysAddr;

/// Reads and writes physical memory.
///
/// Multi-byte values are little-endian in memory on every architecture archmm supports
/// (all of them run little-endian here, s390x's tables are written by its own encoder).
pub trait PhysMem {
    /// Copy `buf.len()` bytes starting at `pa` into `buf`.
    fn read(&self, pa: PhysAddr, buf: &mut [u8]);
    /// Copy `buf` into physical memory starting at `pa`.
    fn write(&self, pa: PhysAddr, buf: &[u8]);

    /// Fill `len` bytes starting at `pa` with zeroes. The default writes in chunks; a kernel
    /// implementation overrides it with a `memset`.
    fn zero(&self, pa: PhysAddr, len: u64) {
        const CHUNK: usize = 256;
        let zeros = [0u8; CHUNK];
        let mut off = 0u64;
        while off < len {
            let n = core::cmp::min(len - off, CHUNK as u64) as usize;
            self.write(PhysAddr(pa.0.wrapping_add(off)), &zeros[..n]);
            off += n as u64;
        }
    }

    /// Copy `len` bytes from `src` to `dst`; the ranges may overlap (memmove semantics).
    fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) {
        const CHUNK: u64 = 256;
        let mut buf = [0u8; CHUNK as usize];
        if dst.0 <= src.0 {
            let mut off = 0;
            while off < len {
                let n = core::cmp::min(len - off, CHUNK);
                self.read(PhysAddr(src.0 + off), &mut buf[..n as usize]);
                self.write(PhysAddr(dst.0 + off), &buf[..n as usize]);
                off += n;
            }
        } else {
            let mut left = len;
            while left > 0 {
                let n = core::cmp::min(left, CHUNK);
                left -= n;
                self.read(PhysAddr(src.0 + left), &mut buf[..n as usize]);
                self.write(PhysAddr(dst.0 + left), &buf[..n as usize]);
            }
        }
    }

    /// Atomically: if the naturally aligned `u32` at `pa` holds `current`, replace it with
    /// `new`. Returns `Ok(current)` on success, `Err(found)` otherwise. A success has acquire
    /// ordering: everything written before the matching [`PhysMem::store_release_u32`] is
    /// visible afterwards. This is how the core keeps a lock in physical memory (each CPU's
    /// page lists live in its per-CPU area, lock included).
    ///
    /// There is no default: an implementation several CPUs share must make this one
    /// indivisible operation (an atomic instruction on a kernel's linear map, one critical
    /// section on a host store). One that a single CPU owns may use [`exclusive_cmpxchg_u32`].
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32>;

    /// Store `v` to the naturally aligned `u32` at `pa` with release ordering (a lock's
    /// unlock: everything written before is visible to the next successful
    /// [`PhysMem::compare_exchange_u32`] that reads `v`).
    fn store_release_u32(&self, pa: PhysAddr, v: u32);

    /// Clean `len` bytes at `pa` from the data cache to the point where the page-table
    /// walker reads (ARM's "point of unification"). Needed on CPUs whose table walker does
    /// not snoop the data cache (many ARMv6/v7 cores); a no-op everywhere else.
    #[inline]
    fn clean_dcache(&self, _pa: PhysAddr, _len: u64) {}

    /// Read a little-endian `u64` at `pa`.
    #[inline]
    fn read_u64(&self, pa: PhysAddr) -> u64 {
        let mut b = [0u8; 8];
        self.read(pa, &mut b);
        u64::from_le_bytes(b)
    }
    /// Write a little-endian `u64` at `pa`.
    #[inline]
    fn write_u64(&self, pa: PhysAddr, v: u64) {
        self.write(pa, &v.to_le_bytes());
    }
    /// Read a little-endian `u32` at `pa`.
    #[inline]
    fn read_u32(&self, pa: PhysAddr) -> u32 {
        let mut b = [0u8; 4];
        self.read(pa, &mut b);
        u32::from_le_bytes(b)
    }
    /// Write a little-endian `u32` at `pa`.
    #[inline]
    fn write_u32(&self, pa: PhysAddr, v: u32) {
        self.write(pa, &v.to_le_bytes());
    }
    /// `true` if the `len` bytes at `pa` are all zero.
    fn is_zero(&self, pa: PhysAddr, len: u64) -> bool {
        let mut buf = [0u8; 256];
        let mut off = 0u64;
        while off < len {
            let n = core::cmp::min(len - off, buf.len() as u64) as usize;
            self.read(PhysAddr(pa.0.wrapping_add(off)), &mut buf[..n]);
            if buf[..n].iter().any(|&b| b != 0) {
                return false;
            }
            off += n as u64;
        }
        true
    }
}

/// [`PhysMem::compare_exchange_u32`] for an implementation that one CPU owns at a time (it
/// is not `Sync`, or every user serialises on one lock around the whole operation): a read,
/// a compare and a write. Never use it for memory several CPUs reach at once.
pub fn exclusive_cmpxchg_u32<M: PhysMem + ?Sized>(m: &M, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
    let found = m.read_u32(pa);
    if found != current {
        return Err(found);
    }
    m.write_u32(pa, new);
    Ok(current)
}

/// The two atomic methods of [`PhysMem`] for an implementation one CPU owns at a time (see
/// [`exclusive_cmpxchg_u32`]); write `archmm::exclusive_atomics!();` inside the impl.
#[macro_export]
macro_rules! exclusive_atomics {
    () => {
        fn compare_exchange_u32(&self, pa: $crate::addr::PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
            $crate::physmem::exclusive_cmpxchg_u32(self, pa, current, new)
        }
        fn store_release_u32(&self, pa: $crate::addr::PhysAddr, v: u32) {
            $crate::physmem::PhysMem::write_u32(self, pa, v)
        }
    };
}

impl<T: PhysMem + ?Sized> PhysMem for &T {
    #[inline]
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        (**self).read(pa, buf)
    }
    #[inline]
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        (**self).write(pa, buf)
    }
    #[inline]
    fn zero(&self, pa: PhysAddr, len: u64) {
        (**self).zero(pa, len)
    }
    #[inline]
    fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) {
        (**self).copy(dst, src, len)
    }
    #[inline]
    fn read_u64(&self, pa: PhysAddr) -> u64 {
        (**self).read_u64(pa)
    }
    #[inline]
    fn write_u64(&self, pa: PhysAddr, v: u64) {
        (**self).write_u64(pa, v)
    }
    #[inline]
    fn clean_dcache(&self, pa: PhysAddr, len: u64) {
        (**self).clean_dcache(pa, len)
    }
    #[inline]
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        (**self).compare_exchange_u32(pa, current, new)
    }
    #[inline]
    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        (**self).store_release_u32(pa, v)
    }
}

/// Physical memory reached through a kernel's linear (direct) map: physical address `pa`
/// is visible at virtual address `pa + offset`.
///
/// This is what a kernel built on archmm passes to the core once its linear map is live
/// (or with `offset == 0` while it runs identity-mapped).
#[derive(Clone, Copy, Debug)]
pub struct LinearMap {
    offset: usize,
}

impl LinearMap {
    /// A linear map at `offset`.
    ///
    /// # Safety
    /// Every physical address the core will access (everything memblock hands out and every
    /// page-table page) must be mapped readable and writable at `pa + offset` for as long as
    /// this value is used, and no other code may hold a Rust reference to those bytes.
    pub const unsafe fn new(offset: usize) -> Self {
        Self { offset }
    }

    #[inline]
    fn ptr(&self, pa: PhysAddr) -> *mut u8 {
        (pa.0 as usize).wrapping_add(self.offset) as *mut u8
    }
}

impl PhysMem for LinearMap {
    #[inline]
    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        // SAFETY: `LinearMap::new`'s contract makes `pa + offset` a valid mapping of the
        // physical bytes the core owns; the copy is bytewise, so alignment does not matter,
        // and `buf` cannot alias them because no Rust reference to them exists.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr(pa), buf.as_mut_ptr(), buf.len()) }
    }
    #[inline]
    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        // SAFETY: as in `read`; the destination is owned physical memory mapped writable.
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), self.ptr(pa), buf.len()) }
    }
    #[inline]
    fn zero(&self, pa: PhysAddr, len: u64) {
        // SAFETY: as in `write`, for `len` bytes of owned, mapped memory.
        unsafe { core::ptr::write_bytes(self.ptr(pa), 0, len as usize) }
    }
    #[inline]
    fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) {
        // SAFETY: both ranges are owned, mapped physical memory; `copy` allows overlap.
        unsafe { core::ptr::copy(self.ptr(src), self.ptr(dst), len as usize) }
    }
    #[inline]
    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        debug_assert!(pa.0.is_multiple_of(4), "unaligned atomic at {:#x}", pa.0);
        // SAFETY: `pa + offset` maps owned physical memory (`new`'s contract); the core
        // passes 4-byte aligned addresses of words it only accesses atomically while shared.
        let a = unsafe { core::sync::atomic::AtomicU32::from_ptr(self.ptr(pa).cast()) };
        a.compare_exchange(current, new, core::sync::atomic::Ordering::Acquire, core::sync::atomic::Ordering::Relaxed)
    }
    #[inline]
    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        debug_assert!(pa.0.is_multiple_of(4), "unaligned atomic at {:#x}", pa.0);
        // SAFETY: as in `compare_exchange_u32`.
        let a = unsafe { core::sync::atomic::AtomicU32::from_ptr(self.ptr(pa).cast()) };
        a.store(v, core::sync::atomic::Ordering::Release)
    }
}
