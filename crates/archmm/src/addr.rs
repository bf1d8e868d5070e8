//! Typed addresses, page frame numbers, sizes and ranges.
//!
//! Physical and virtual addresses are distinct types so that a physical address can never be
//! used where a virtual one is expected. All arithmetic that can overflow is checked: a range
//! may end exactly at the top of the 64-bit address space (its exclusive end is then 2^64,
//! which [`PhysRange`] represents by its inclusive last byte), but a range that would wrap
//! past the top is an [`AddrError::Wraps`].
//!
//! Page sizes are not fixed here: arm64 has 4K, 16K and 64K granules, so every helper that
//! needs the page size takes a `page_shift`.

use core::fmt;

/// Errors of address arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// `base + size` goes past the top of the address space.
    Wraps {
        /// First byte of the offending range.
        base: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// An alignment that is not a power of two (or is zero).
    BadAlign(u64),
}

impl core::error::Error for AddrError {}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::Wraps { base, size } => {
                write!(f, "range {base:#x}+{size:#x} wraps past the top of the address space")
            }
            AddrError::BadAlign(a) => write!(f, "alignment {a:#x} is not a power of two"),
        }
    }
}

/// Round `x` up to a multiple of `align` (a power of two). `None` on overflow or a bad
/// alignment.
#[inline]
pub const fn checked_align_up(x: u64, align: u64) -> Option<u64> {
    if align == 0 || !align.is_power_of_two() {
        return None;
    }
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Round `x` down to a multiple of `align` (a power of two; 0 and 1 leave `x` unchanged).
#[inline]
pub const fn align_down(x: u64, align: u64) -> u64 {
    if align <= 1 {
        x
    } else {
        x & !(align - 1)
    }
}

/// Round `x` up to a multiple of `align` (a power of two), saturating at the highest
/// aligned value instead of wrapping. Linux's `round_up` wraps; callers that mirror a Linux
/// algorithm and need the wrap semantics use [`round_up_wrapping`].
#[inline]
pub const fn align_up_saturating(x: u64, align: u64) -> u64 {
    if align <= 1 {
        return x;
    }
    match checked_align_up(x, align) {
        Some(v) => v,
        None => align_down(u64::MAX, align),
    }
}

/// Linux's `round_up(x, align)` for a power-of-two `align`: `((x - 1) | (align - 1)) + 1`,
/// which wraps to 0 at the top of the address space exactly as the C macro does.
#[inline]
pub const fn round_up_wrapping(x: u64, align: u64) -> u64 {
    if align <= 1 {
        return x;
    }
    (x.wrapping_sub(1) | (align - 1)).wrapping_add(1)
}

/// `true` if `x` is a multiple of `align` (a power of two; 0 and 1 accept everything).
#[inline]
pub const fn is_aligned(x: u64, align: u64) -> bool {
    align <= 1 || x & (align - 1) == 0
}

macro_rules! addr_type {
    ($(#[$m:meta])* $name:ident, $prefix:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The address 0.
            pub const ZERO: Self = Self(0);
            /// Wrap a raw address.
            #[inline]
            pub const fn new(a: u64) -> Self {
                Self(a)
            }
            /// The raw value.
            #[inline]
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            /// `self + off`, `None` if it passes the top of the address space.
            #[inline]
            pub const fn checked_add(self, off: u64) -> Option<Self> {
                match self.0.checked_add(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// `self - off`, `None` if it goes below zero.
            #[inline]
            pub const fn checked_sub(self, off: u64) -> Option<Self> {
                match self.0.checked_sub(off) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// Round down to `align` (a power of two).
            #[inline]
            pub const fn align_down(self, align: u64) -> Self {
                Self(align_down(self.0, align))
            }
            /// Round up to `align` (a power of two), `None` on overflow.
            #[inline]
            pub const fn checked_align_up(self, align: u64) -> Option<Self> {
                match checked_align_up(self.0, align) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// `true` if aligned to `align` (a power of two).
            #[inline]
            pub const fn is_aligned(self, align: u64) -> bool {
                is_aligned(self.0, align)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            /// Linux's `%pa`: `0x` and 16 hex digits.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#018x}", self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

addr_type!(
    /// A physical address.
    PhysAddr,
    "PhysAddr"
);
addr_type!(
    /// A virtual address.
    VirtAddr,
    "VirtAddr"
);

impl PhysAddr {
    /// The page frame number containing this address, for pages of `1 << page_shift` bytes.
    #[inline]
    pub const fn pfn(self, page_shift: u32) -> Pfn {
        Pfn(self.0 >> page_shift)
    }
}

/// A page frame number: a physical address shifted right by the page shift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The physical address of the first byte of this frame; `None` if it does not fit in
    /// 64 bits.
    #[inline]
    pub const fn checked_addr(self, page_shift: u32) -> Option<PhysAddr> {
        if page_shift < 64 && self.0 <= (u64::MAX >> page_shift) {
            Some(PhysAddr(self.0 << page_shift))
        } else {
            None
        }
    }
    /// The physical address of the first byte of this frame, wrapping like C's shift (a pfn
    /// past the top is a caller bug; use [`Pfn::checked_addr`] on untrusted values).
    #[inline]
    pub const fn addr(self, page_shift: u32) -> PhysAddr {
        PhysAddr(self.0.wrapping_shl(page_shift))
    }
}

/// Linux's `PFN_UP(x)`: the first frame that starts at or after `x`.
#[inline]
pub const fn pfn_up(x: u64, page_shift: u32) -> u64 {
    let page = 1u64 << page_shift;
    // (x + PAGE_SIZE - 1) >> PAGE_SHIFT without overflow at the top of the space.
    (x >> page_shift) + (x & (page - 1) != 0) as u64
}

/// Linux's `PFN_DOWN(x)`: the frame containing `x`.
#[inline]
pub const fn pfn_down(x: u64, page_shift: u32) -> u64 {
    x >> page_shift
}

/// A non-empty range of physical addresses, stored by first and last byte so that a range
/// ending at the very top of the address space is representable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysRange {
    start: u64,
    last: u64,
}

impl PhysRange {
    /// The range `[base, base + size)`.
    ///
    /// Returns `Ok(None)` for `size == 0` (an empty range has no first or last byte) and
    /// [`AddrError::Wraps`] if the range passes the top of the address space. A range whose
    /// last byte is `0xffff_ffff_ffff_ffff` is legal.
    pub const fn from_base_size(base: u64, size: u64) -> Result<Option<Self>, AddrError> {
        if size == 0 {
            return Ok(None);
        }
        match base.checked_add(size - 1) {
            Some(last) => Ok(Some(Self { start: base, last })),
            None => Err(AddrError::Wraps { base, size }),
        }
    }
    /// The range `[start, last]` (both inclusive); `None` if `last < start`.
    pub const fn from_inclusive(start: u64, last: u64) -> Option<Self> {
        if last < start {
            None
        } else {
            Some(Self { start, last })
        }
    }
    /// First byte.
    #[inline]
    pub const fn start(&self) -> PhysAddr {
        PhysAddr(self.start)
    }
    /// Last byte (inclusive).
    #[inline]
    pub const fn last(&self) -> PhysAddr {
        PhysAddr(self.last)
    }
    /// Exclusive end; `None` when the range ends at the top of the address space.
    #[inline]
    pub const fn end(&self) -> Option<PhysAddr> {
        match self.last.checked_add(1) {
            Some(e) => Some(PhysAddr(e)),
            None => None,
        }
    }
    /// Size in bytes; `None` only for the whole 2^64 space.
    #[inline]
    pub const fn size(&self) -> Option<u64> {
        (self.last - self.start).checked_add(1)
    }
    /// `true` if `a` lies in the range.
    #[inline]
    pub const fn contains(&self, a: PhysAddr) -> bool {
        a.0 >= self.start && a.0 <= self.last
    }
    /// `true` if the ranges share at least one byte.
    #[inline]
    pub const fn overlaps(&self, o: &PhysRange) -> bool {
        self.start <= o.last && o.start <= self.last
    }
    /// The common part of two ranges.
    pub const fn intersect(&self, o: &PhysRange) -> Option<PhysRange> {
        let s = if self.start > o.start { self.start } else { o.start };
        let l = if self.last < o.last { self.last } else { o.last };
        Self::from_inclusive(s, l)
    }
}

impl fmt::Debug for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}-{:#x}]", self.start, self.last)
    }
}

impl fmt::Display for PhysRange {
    /// Linux's `[mem %#018Lx-%#018Lx]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[mem {:#018x}-{:#018x}]", self.start, self.last)
    }
}

/// Sizes with binary suffixes.
pub const SZ_4K: u64 = 0x1000;
/// 64 KiB.
pub const SZ_64K: u64 = 0x1_0000;
/// 1 MiB.
pub const SZ_1M: u64 = 0x10_0000;
/// 2 MiB.
pub const SZ_2M: u64 = 0x20_0000;
/// 16 MiB.
pub const SZ_16M: u64 = 0x100_0000;
/// 1 GiB.
pub const SZ_1G: u64 = 0x4000_0000;
/// 4 GiB.
pub const SZ_4G: u64 = 0x1_0000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_at_top_is_legal_and_wrapping_is_not() {
        let r = PhysRange::from_base_size(u64::MAX - 0xfff, 0x1000).unwrap().unwrap();
        assert_eq!(r.last().as_u64(), u64::MAX);
        assert_eq!(r.end(), None);
        assert_eq!(r.size(), Some(0x1000));
        assert_eq!(
            PhysRange::from_base_size(u64::MAX - 0xfff, 0x1001),
            Err(AddrError::Wraps { base: u64::MAX - 0xfff, size: 0x1001 })
        );
        assert_eq!(PhysRange::from_base_size(5, 0), Ok(None));
        let all = PhysRange::from_inclusive(0, u64::MAX).unwrap();
        assert_eq!(all.size(), None);
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(checked_align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(checked_align_up(u64::MAX, 0x1000), None);
        assert_eq!(checked_align_up(3, 3), None);
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up_saturating(u64::MAX, 0x1000), !0xfffu64);
        assert_eq!(round_up_wrapping(u64::MAX, 0x1000), 0);
        assert_eq!(round_up_wrapping(0, 0x1000), 0);
        assert!(is_aligned(0x2000, 0x1000) && !is_aligned(0x2001, 0x1000));
        assert_eq!(pfn_up(0x9fc00, 12), 0xa0);
        assert_eq!(pfn_up(u64::MAX, 12), 1 << 52);
        assert_eq!(pfn_down(0x9fc00, 12), 0x9f);
    }

    #[test]
    fn pfn_conversions() {
        assert_eq!(PhysAddr(0x12345).pfn(12), Pfn(0x12));
        assert_eq!(Pfn(0x12).checked_addr(12), Some(PhysAddr(0x12000)));
        assert_eq!(Pfn(1 << 52).checked_addr(12), None);
        assert_eq!(format!("{}", PhysAddr(0x1000)), "0x0000000000001000");
        let r = PhysRange::from_base_size(0x1000, 0x9e000).unwrap().unwrap();
        assert_eq!(format!("{r}"), "[mem 0x0000000000001000-0x000000000009efff]");
    }

    proptest::proptest! {
        #[test]
        fn align_up_is_smallest_aligned_not_below(x in proptest::prelude::any::<u64>(), s in 0u32..40) {
            let a = 1u64 << s;
            match checked_align_up(x, a) {
                Some(v) => {
                    proptest::prop_assert!(v >= x && is_aligned(v, a) && v - x < a);
                }
                None => proptest::prop_assert!(x > align_down(u64::MAX, a)),
            }
        }
    }
}
