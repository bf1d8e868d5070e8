//! The host's physical memory: a sparse, page-granular backing store.
//!
//! A machine with terabytes of "RAM" costs only the pages the core touches: a page is
//! allocated on its first write; reading a page never written returns zeroes without
//! allocating. The store is shared between threads (the emulated CPUs) behind a mutex per
//! shard, keyed by page frame number.

use archmm::addr::PhysAddr;
use archmm::physmem::PhysMem;
use std::collections::HashMap;
use std::sync::Mutex;

const PAGE: u64 = 4096;
const SHARDS: usize = 16;

type Page = Box<[u8; PAGE as usize]>;

/// Sparse physical memory for the emulator.
#[derive(Debug)]
pub struct SparseMem {
    shards: Vec<Mutex<HashMap<u64, Page>>>,
    cleaned: std::sync::atomic::AtomicU64,
}

impl Default for SparseMem {
    fn default() -> Self {
        Self::new()
    }
}

impl SparseMem {
    /// An empty store: every byte reads as zero.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            cleaned: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn shard(&self, pfn: u64) -> &Mutex<HashMap<u64, Page>> {
        &self.shards[(pfn as usize) % SHARDS]
    }

    /// Bytes the core asked to clean from the (emulated, absent) data cache.
    pub fn cleaned_bytes(&self) -> u64 {
        self.cleaned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of 4 KiB pages that hold data (have been written).
    pub fn touched_pages(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// The page and offset of an aligned `u32` (an aligned word never straddles pages).
    fn word(pa: PhysAddr) -> (u64, usize) {
        assert!(pa.0.is_multiple_of(4), "the core asked for an unaligned atomic at {:#x}", pa.0);
        (pa.0 / PAGE, (pa.0 % PAGE) as usize)
    }

    /// Call `f(offset_in_page, pfn, len, buf_offset)` for each page-sized piece of an access.
    fn pieces(pa: PhysAddr, len: usize, mut f: impl FnMut(u64, usize, usize, usize)) {
        let mut done = 0usize;
        while done < len {
            let a = pa.0.wrapping_add(done as u64);
            let pfn = a / PAGE;
            let off = (a % PAGE) as usize;
            let n = (PAGE as usize - off).min(len - done);
            f(pfn, off, n, done);
            done += n;
        }
    }
}

impl PhysMem for SparseMem {
    fn clean_dcache(&self, _pa: PhysAddr, len: u64) {
        // The host has no cache to clean; count, so tests can check the core asks.
        self.cleaned.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self, pa: PhysAddr, buf: &mut [u8]) {
        Self::pieces(pa, buf.len(), |pfn, off, n, at| {
            let shard = self.shard(pfn).lock().unwrap_or_else(|e| e.into_inner());
            match shard.get(&pfn) {
                Some(p) => buf[at..at + n].copy_from_slice(&p[off..off + n]),
                None => buf[at..at + n].fill(0),
            }
        });
    }

    fn write(&self, pa: PhysAddr, buf: &[u8]) {
        Self::pieces(pa, buf.len(), |pfn, off, n, at| {
            let mut shard = self.shard(pfn).lock().unwrap_or_else(|e| e.into_inner());
            let p = shard.entry(pfn).or_insert_with(|| Box::new([0u8; PAGE as usize]));
            p[off..off + n].copy_from_slice(&buf[at..at + n]);
        });
    }

    fn compare_exchange_u32(&self, pa: PhysAddr, current: u32, new: u32) -> Result<u32, u32> {
        // One critical section on the word's shard: indivisible for every thread, and the
        // mutex gives the acquire ordering.
        let (pfn, off) = Self::word(pa);
        let mut shard = self.shard(pfn).lock().unwrap_or_else(|e| e.into_inner());
        let found = shard.get(&pfn).map_or(0, |p| u32::from_le_bytes(p[off..off + 4].try_into().unwrap_or([0; 4])));
        if found != current {
            return Err(found);
        }
        shard.entry(pfn).or_insert_with(|| Box::new([0u8; PAGE as usize]))[off..off + 4]
            .copy_from_slice(&new.to_le_bytes());
        Ok(current)
    }

    fn store_release_u32(&self, pa: PhysAddr, v: u32) {
        let (pfn, off) = Self::word(pa);
        let mut shard = self.shard(pfn).lock().unwrap_or_else(|e| e.into_inner());
        shard.entry(pfn).or_insert_with(|| Box::new([0u8; PAGE as usize]))[off..off + 4]
            .copy_from_slice(&v.to_le_bytes());
    }

    fn zero(&self, pa: PhysAddr, len: u64) {
        // Whole pages that were never written are already zero: drop them instead of
        // allocating, so zeroing a huge range stays cheap.
        let mut a = pa.0;
        let end = pa.0.saturating_add(len);
        while a < end {
            let pfn = a / PAGE;
            let off = a % PAGE;
            let n = (PAGE - off).min(end - a);
            let mut shard = self.shard(pfn).lock().unwrap_or_else(|e| e.into_inner());
            if off == 0 && n == PAGE {
                shard.remove(&pfn);
            } else if let Some(p) = shard.get_mut(&pfn) {
                p[off as usize..(off + n) as usize].fill(0);
            }
            a += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_reads_zero_and_costs_nothing_until_written() {
        let m = SparseMem::new();
        assert_eq!(m.read_u64(PhysAddr(0x10_0000_0000_0000)), 0);
        assert_eq!(m.touched_pages(), 0);
        m.write_u64(PhysAddr(0xfff_fffc), 0x1122_3344_5566_7788);
        assert_eq!(m.touched_pages(), 2, "an access straddling a page boundary touches both");
        assert_eq!(m.read_u64(PhysAddr(0xfff_fffc)), 0x1122_3344_5566_7788);
        m.zero(PhysAddr(0xfff_f000), 0x2000);
        assert_eq!(m.touched_pages(), 0);
        assert!(m.is_zero(PhysAddr(0xfff_f000), 0x2000));
    }

    #[test]
    fn copy_handles_overlap() {
        let m = SparseMem::new();
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        m.write(PhysAddr(0x1000), &data);
        m.copy(PhysAddr(0x1010), PhysAddr(0x1000), 1000);
        let mut out = vec![0u8; 1000];
        m.read(PhysAddr(0x1010), &mut out);
        assert_eq!(out, data);
    }
}
