//! The paging modes this build knows, as data for listings (`archmm arches`) and for
//! choosing a mode by name on the command line.

use crate::pgtable::{Level, PagingMode, VaRange};

/// Static facts about one paging mode.
#[derive(Clone, Copy, Debug)]
pub struct ModeInfo {
    /// Mode name (`x86_64-4level`, ...).
    pub name: &'static str,
    /// Linux's name of the architecture.
    pub arch: &'static str,
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
}

/// Facts of mode `M` of architecture `arch`.
pub const fn info<M: PagingMode>(arch: &'static str) -> ModeInfo {
    ModeInfo {
        name: M::NAME,
        arch,
        levels: M::LEVELS,
        entry_size: M::ENTRY_SIZE,
        va_bits: M::VA_BITS,
        va_range: M::VA_RANGE,
        pa_bits: M::PA_BITS,
        level_names: M::level_names,
        table_bytes: M::table_bytes,
        overrides: M::OVERRIDES,
    }
}

/// Every paging mode, grouped by architecture.
pub const MODES: &[ModeInfo] = &[
    info::<super::x86_64::X86_64Paging4>("x86_64"),
    info::<super::x86_64::X86_64Paging5>("x86_64"),
    info::<super::arm64::Arm64Paging4K39>("arm64"),
    info::<super::arm64::Arm64Paging4K48>("arm64"),
    info::<super::arm64::Arm64Paging4K48Ttbr0>("arm64"),
    info::<super::arm64::Arm64Paging16K36>("arm64"),
    info::<super::arm64::Arm64Paging16K47>("arm64"),
    info::<super::arm64::Arm64Paging16K48>("arm64"),
    info::<super::arm64::Arm64Paging64K42>("arm64"),
    info::<super::arm64::Arm64Paging64K48>("arm64"),
    info::<super::arm64::Arm64Paging64K52>("arm64"),
    info::<super::arm::ArmShort>("arm"),
    info::<super::arm::ArmLpae>("arm"),
    info::<super::i386::I386Paging2>("i386"),
    info::<super::i386::I386PagingPae>("i386"),
    info::<super::riscv64::Sv39>("riscv64"),
    info::<super::riscv64::Sv48>("riscv64"),
    info::<super::riscv64::Sv57>("riscv64"),
    info::<super::loongarch64::LoongArch3Level16K>("loongarch64"),
    info::<super::loongarch64::LoongArch4Level4K>("loongarch64"),
    info::<super::s390::S390x3Level>("s390"),
    info::<super::s390::S390x4Level>("s390"),
    info::<super::s390::S390x5Level>("s390"),
    info::<super::powerpc::Radix4K>("powerpc"),
    info::<super::powerpc::Radix64K>("powerpc"),
];

/// Look a mode up by name.
pub fn mode_by_name(name: &str) -> Option<&'static ModeInfo> {
    MODES.iter().find(|m| m.name == name)
}
