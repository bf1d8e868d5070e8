//! The registry: every architecture and every paging mode this build knows, in one list
//! (the `registry!` invocation in `arch/mod.rs`; this module defines the macro and the
//! visitor traits).
//!
//! An architecture is a folder (`arch/<name>/`: its [`Arch`] types and paging modes, its
//! hook overrides with their reasons, its reference walker); this file is the one place
//! that names them all. Everything that goes from a name to a type is generated from that
//! list by `registry!`: [`ArchId`] and [`ARCHES`], [`MODES`], and the visitors
//! [`ArchId::visit`], [`visit_kernel_mode`], [`visit_paging_mode`] and [`visit_ref_walk`]
//! that the host emulator, the hotplug scripts, the reference walkers and the tests use
//! instead of tables of their own. Adding a paging mode is one line here (its type in its
//! arch's `kernel:` or `user:` list); a mode whose type lacks what a dispatch needs (an
//! [`Arch`] implementation, a [`PagingMode`], a [`RefWalk`] walker) does not compile.
//!
//! A visitor is a value with a method generic over the type: `ArchId::X86_64.visit(v)`
//! calls `v.visit::<X86<false>>()`. It replaces the `match name { "x86_64-4level" =>
//! run::<X86<false>>(..), .., _ => None }` tables that would otherwise be written (and
//! forgotten) in every tool.

use super::Arch;
pub use super::{visit_kernel_mode, visit_paging_mode, visit_ref_walk, ArchId, ARCHES, MODES};
use crate::pgtable::PagingMode;
use crate::refwalk::RefWalk;

/// Something done with an architecture type: [`ArchId::visit`] and [`visit_kernel_mode`]
/// call [`ArchVisitor::visit`] with the type the name selects.
pub trait ArchVisitor {
    /// What the visit returns.
    type Output;
    /// Do it for `A`.
    fn visit<A: Arch>(self) -> Self::Output;
}

/// Something done with a paging mode type (kernel or user): [`visit_paging_mode`].
pub trait PagingVisitor {
    /// What the visit returns.
    type Output;
    /// Do it for `M`.
    fn visit<M: PagingMode>(self) -> Self::Output;
}

/// Something done with a paging mode and its reference walker: [`visit_ref_walk`].
pub trait RefWalkVisitor {
    /// What the visit returns.
    type Output;
    /// Do it for `M`.
    fn visit<M: PagingMode + RefWalk>(self) -> Self::Output;
}

/// Generates every name-to-type dispatch from the list of arches and modes.
///
/// Each entry: the arch's [`ArchId`] variant (with its doc), the arch type the arch's
/// name selects (its reference kernel's mode), then `kernel:` every [`Arch`] type (one per
/// kernel paging mode; the mode's name is its `Paging::NAME`) and `user:` the paging modes
/// only user address spaces use (arm64's TTBR0 formats).
macro_rules! registry {
    ($(
        $(#[$doc:meta])*
        $id:ident in $module:ident => $default:ty {
            kernel: [$($kmode:ty),+ $(,)?],
            user: [$($umode:ty),* $(,)?] $(,)?
        }
    ),+ $(,)?) => {
        $(pub mod $module;)+

        /// Each arch's reference walker's source, for the test that keeps the walkers
        /// independent of the encoders.
        #[cfg(test)]
        pub(crate) const WALKER_SOURCES: &[(&str, &str)] =
            &[$((stringify!($module), include_str!(concat!(stringify!($module), "/refwalk.rs")))),+];

        /// The architectures this build knows, by Linux name, for command lines and reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ArchId {
            $($(#[$doc])* $id,)+
        }

        /// All architectures, in the order listings show them (and [`ArchId`]'s order).
        pub const ARCHES: &[ArchInfo] = &[$(arch_info::<$default>(ArchId::$id)),+];

        /// Every paging mode, grouped by architecture: its kernel modes, then the modes
        /// only its user address spaces use.
        pub const MODES: &[ModeInfo] = &[$(
            $(mode_info::<<$kmode as Arch>::Paging>(<$default as Arch>::NAME, ArchId::$id, true, <$kmode as Arch>::OVERRIDES),)+
            $(mode_info::<$umode>(<$default as Arch>::NAME, ArchId::$id, false, &[]),)*
        )+];

        impl ArchId {
            /// Static facts.
            pub fn info(self) -> &'static ArchInfo {
                // ARCHES is generated in the enum's order.
                &ARCHES[self as usize]
            }

            /// `v.visit::<A>()` with the arch type this arch's name selects.
            pub fn visit<V: ArchVisitor>(self, v: V) -> V::Output {
                match self {
                    $(ArchId::$id => v.visit::<$default>(),)+
                }
            }
        }

        /// `v.visit::<A>()` with the arch type of kernel paging mode `name`; `Err(v)` when no
        /// arch has a kernel mode of that name.
        ///
        /// # Errors
        /// The visitor back, unused, for an unknown name.
        pub fn visit_kernel_mode<V: ArchVisitor>(name: &str, v: V) -> Result<V::Output, V> {
            $($(
                if name == <<$kmode as Arch>::Paging as PagingMode>::NAME {
                    return Ok(v.visit::<$kmode>());
                }
            )+)+
            Err(v)
        }

        /// `v.visit::<M>()` with paging mode `name` (kernel or user).
        ///
        /// # Errors
        /// The visitor back, unused, for an unknown name.
        pub fn visit_paging_mode<V: PagingVisitor>(name: &str, v: V) -> Result<V::Output, V> {
            $(
                $(
                    if name == <<$kmode as Arch>::Paging as PagingMode>::NAME {
                        return Ok(v.visit::<<$kmode as Arch>::Paging>());
                    }
                )+
                $(
                    if name == <$umode as PagingMode>::NAME {
                        return Ok(v.visit::<$umode>());
                    }
                )*
            )+
            Err(v)
        }

        /// `v.visit::<M>()` with paging mode `name` and its reference walker: every mode
        /// of the registry has one, or this does not compile.
        ///
        /// # Errors
        /// The visitor back, unused, for an unknown name.
        pub fn visit_ref_walk<V: RefWalkVisitor>(name: &str, v: V) -> Result<V::Output, V> {
            $(
                $(
                    if name == <<$kmode as Arch>::Paging as PagingMode>::NAME {
                        return Ok(v.visit::<<$kmode as Arch>::Paging>());
                    }
                )+
                $(
                    if name == <$umode as PagingMode>::NAME {
                        return Ok(v.visit::<$umode>());
                    }
                )*
            )+
            Err(v)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl ArchVisitor for Name {
        type Output = (&'static str, &'static str);
        fn visit<A: Arch>(self) -> Self::Output {
            (A::NAME, <A::Paging as PagingMode>::NAME)
        }
    }

    #[test]
    fn every_mode_dispatches_to_itself() {
        for (i, m) in MODES.iter().enumerate() {
            assert!(MODES[..i].iter().all(|o| o.name != m.name), "{} listed twice", m.name);
            assert_eq!(m.arch_id.info().name, m.arch);
            struct P;
            impl PagingVisitor for P {
                type Output = &'static str;
                fn visit<M: PagingMode>(self) -> &'static str {
                    M::NAME
                }
            }
            assert_eq!(visit_paging_mode(m.name, P).ok(), Some(m.name));
            match visit_kernel_mode(m.name, Name) {
                Ok((arch, mode)) => {
                    assert!(m.kernel, "{}: a user mode boots", m.name);
                    assert_eq!((arch, mode), (m.arch, m.name));
                }
                Err(_) => assert!(!m.kernel, "{}: a kernel mode does not boot", m.name),
            }
        }
        assert!(visit_kernel_mode("vax", Name).is_err());
    }

    #[test]
    fn each_arch_boots_one_of_its_kernel_modes() {
        for (i, a) in ARCHES.iter().enumerate() {
            assert_eq!(a.id as usize, i);
            assert_eq!(a.id.info().name, a.name);
            let (arch, mode) = a.id.visit(Name);
            assert_eq!(arch, a.name);
            assert!(MODES.iter().any(|m| m.kernel && m.name == mode && m.arch_id == a.id), "{mode}");
        }
    }
}
