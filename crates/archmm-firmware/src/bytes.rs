//! Bounds-checked readers for fixed-width integers inside byte slices.
//!
//! Every reader returns `None` when the requested bytes are not all inside
//! the slice (including when `offset + width` overflows `usize`), so callers
//! turn a short input into a typed error instead of a panic.

/// Returns `N` bytes of `b` starting at `off`, or `None` if they are not all
/// inside `b`.
fn array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    let s = b.get(off..end)?;
    s.try_into().ok()
}

/// Reads a little-endian `u16` at `off`.
pub(crate) fn le_u16(b: &[u8], off: usize) -> Option<u16> {
    array::<2>(b, off).map(u16::from_le_bytes)
}

/// Reads a little-endian `u32` at `off`.
pub(crate) fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    array::<4>(b, off).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `off`.
pub(crate) fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    array::<8>(b, off).map(u64::from_le_bytes)
}

/// Reads a big-endian `u32` at `off`.
pub(crate) fn be_u32(b: &[u8], off: usize) -> Option<u32> {
    array::<4>(b, off).map(u32::from_be_bytes)
}

/// Reads a big-endian `u64` at `off`.
pub(crate) fn be_u64(b: &[u8], off: usize) -> Option<u64> {
    array::<8>(b, off).map(u64::from_be_bytes)
}

/// Returns the sub-slice `b[off..off + len]`, or `None` if it is not inside
/// `b`.
pub(crate) fn sub(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    b.get(off..end)
}

/// Rounds `v` up to a multiple of `align` (a power of two), or `None` on
/// overflow.
pub(crate) fn align_up(v: usize, align: usize) -> Option<usize> {
    let mask = align.checked_sub(1)?;
    Some(v.checked_add(mask)? & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_are_bounds_checked() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le_u16(&b, 0), Some(0x0201));
        assert_eq!(le_u32(&b, 5), Some(0x0908_0706));
        assert_eq!(le_u32(&b, 6), None);
        assert_eq!(be_u32(&b, 0), Some(0x0102_0304));
        assert_eq!(le_u64(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(be_u64(&b, 2), None);
        assert_eq!(le_u64(&b, usize::MAX), None);
        assert_eq!(sub(&b, 8, 1), Some(&[9u8][..]));
        assert_eq!(sub(&b, 8, 2), None);
        assert_eq!(sub(&b, usize::MAX, 2), None);
    }

    #[test]
    fn align_up_works() {
        assert_eq!(align_up(0, 4), Some(0));
        assert_eq!(align_up(5, 4), Some(8));
        assert_eq!(align_up(8, 8), Some(8));
        assert_eq!(align_up(usize::MAX, 4), None);
        assert_eq!(align_up(3, 0), None);
    }
}
