//! [`FixedVec`]: a fixed-capacity, heap-free vector of `Copy` items.
//!
//! The parsers in this crate return lists (memory banks, reserved regions,
//! SRAT affinities, ...) whose length depends on the input. Without a heap,
//! they are stored in a `FixedVec<T, N>`: an inline `[T; N]` plus a length.
//! Pushing past the capacity returns [`CapacityError`] instead of growing or
//! panicking; each parser maps that to its own typed "too many" error.

use core::fmt;

/// The error returned by [`FixedVec::push`] when the vector is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// The capacity that was exceeded.
    pub capacity: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fixed capacity of {} entries exceeded", self.capacity)
    }
}

impl core::error::Error for CapacityError {}

/// A vector of at most `N` `Copy` items stored inline (no heap).
///
/// Only the first [`len`](Self::len) slots are meaningful; the others hold
/// `T::default()`.
#[derive(Clone, Copy)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// Creates an empty vector. Its storage (`N * size_of::<T>()` bytes) lives
    /// wherever the vector lives, e.g. on the stack.
    pub fn new() -> Self {
        Self { items: [T::default(); N], len: 0 }
    }

    /// Appends `item`.
    ///
    /// Returns [`CapacityError`] (and leaves the vector unchanged) when the
    /// vector already holds `N` items.
    pub fn push(&mut self, item: T) -> Result<(), CapacityError> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                // `len < N <= usize::MAX`, so this cannot overflow.
                self.len = self.len.saturating_add(1);
                Ok(())
            }
            None => Err(CapacityError { capacity: N }),
        }
    }

    /// The items pushed so far, in order.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The items pushed so far, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.items.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fixed capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Removes every item.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens the vector to `len` items (no effect if it is already
    /// shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }

    /// Iterates over the items.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.as_slice().iter()
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for FixedVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for FixedVec<T, N> {}

impl<'v, T: Copy + Default, const N: usize> IntoIterator for &'v FixedVec<T, N> {
    type Item = &'v T;
    type IntoIter = core::slice::Iter<'v, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full() {
        let mut v: FixedVec<u32, 2> = FixedVec::new();
        assert!(v.is_empty());
        v.push(1).unwrap();
        v.push(2).unwrap();
        assert_eq!(v.push(3), Err(CapacityError { capacity: 2 }));
        assert_eq!(v.as_slice(), &[1, 2]);
        v.truncate(1);
        assert_eq!(v.as_slice(), &[1]);
        v.truncate(5);
        assert_eq!(v.len(), 1);
        v.as_mut_slice()[0] = 7;
        assert_eq!(v.iter().copied().collect::<Vec<_>>(), vec![7]);
        v.clear();
        assert!(v.is_empty());
        assert_eq!(v.capacity(), 2);
    }

    #[test]
    fn zero_capacity() {
        let mut v: FixedVec<u8, 0> = FixedVec::default();
        assert!(v.push(1).is_err());
        assert_eq!(v.as_slice(), &[] as &[u8]);
        assert_eq!(format!("{v:?}"), "[]");
    }
}
