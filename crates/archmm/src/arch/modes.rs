//! The paging modes this build knows (listed in [`super::registry`]), as data for listings
//! (`archmm arches`) and for choosing a mode by name on the command line.

use crate::pgtable::{Level, PagingMode, VaRange};

/// Static facts about one paging mode.
#[derive(Clone, Copy, Debug)]
pub struct ModeInfo {
    /// Mode name (`x86_64-4level`, ...).
    pub name: &'static str,
    /// Linux's name of the architecture.
    pub arch: &'static str,
    /// The architecture.
    pub arch_id: super::ArchId,
    /// A kernel mode (an arch type boots in it); false: only user address spaces use it.
    pub kernel: bool,
    /// Levels, root first.
    pub levels: &'static [Level],
    /// Bytes per entry.
    pub entry_size: u64,
    /// Virtual address bits.
    pub va_bits: u32,
    /// Which half of the space the root translates.
    pub va_range: VaRange,
    /// Physical address bits.
    pub pa_bits: u32,
    /// Linux's names of the levels present.
    pub level_names: fn() -> &'static [&'static str],
    /// Bytes of a table at each level.
    pub table_bytes: fn(usize) -> u64,
    /// Generic page-table helpers this mode overrides, with reasons.
    pub overrides: &'static [super::Override],
    /// The hooks the arch type of this kernel mode overrides, with reasons (none for a
    /// user-only mode).
    pub arch_overrides: &'static [super::Override],
}

/// Facts of mode `M` of architecture `arch`.
pub(crate) const fn mode_info<M: PagingMode>(
    arch: &'static str,
    arch_id: super::ArchId,
    kernel: bool,
    arch_overrides: &'static [super::Override],
) -> ModeInfo {
    ModeInfo {
        name: M::NAME,
        arch,
        arch_id,
        kernel,
        levels: M::LEVELS,
        entry_size: M::ENTRY_SIZE,
        va_bits: M::VA_BITS,
        va_range: M::VA_RANGE,
        pa_bits: M::PA_BITS,
        level_names: M::level_names,
        table_bytes: M::table_bytes,
        overrides: M::OVERRIDES,
        arch_overrides,
    }
}

pub use super::registry::MODES;

/// Look a mode up by name.
pub fn mode_by_name(name: &str) -> Option<&'static ModeInfo> {
    MODES.iter().find(|m| m.name == name)
}
