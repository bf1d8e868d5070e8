//! i386 (IA-32): a page of the Intel SDM and of Linux's arch/x86 32-bit memory setup.
//!
//! - Physical addresses: 32 bits without PAE; with PAE the entries hold up to 52 bits
//!   (MAXPHYADDR; Linux's `__PHYSICAL_MASK_SHIFT` 52) while Linux's memory model covers 36
//!   (`MAX_PHYSMEM_BITS`).
//! - Firmware: the BIOS e820 table, as on x86-64.
//! - Zones: DMA below 16 MiB (ISA DMA), Normal for lowmem (directly mapped, 896 MiB with
//!   the 3G/1G split), HighMem above it.
//! - Paging: [`I386Paging`], 32-bit paging (`i386-2level`, SDM vol. 3A 4.3) or PAE paging
//!   (`i386-pae`, 4.4). The entry bits are x86-64's ([`super::x86_64`]), and so are the
//!   encoder and decoder: present, R/W, U/S, PWT/PCD for the memory type (Linux's PAT
//!   layout: WB 0, WC 1, UC 3), accessed, dirty, PS for a large page, global, and with PAE
//!   execute-disable in bit 63 (IA32_EFER.NXE = 1, as Linux sets it when the CPU has NX).
//!
//! # 32-bit paging (SDM 4.3)
//! CR3 points to a page directory of 1024 4-byte entries, each covering 4 MiB: a pointer
//! to a page table (1024 entries of 4 KiB) or, with CR4.PSE and PS = 1, a 4 MiB page
//! (bits 31:22; the PAT bit moves to bit 12). PSE-36 (PA bits 39:32 in PDE bits 20:13) is
//! not used: Linux's non-PAE kernel keeps physical memory below 4 GiB, so this mode's PA
//! is 32 bits.
//!
//! There is no execute-disable bit: every present page is executable. A protection
//! without `exec` therefore cannot be written faithfully, and `check_prot` refuses it
//! (Linux's non-PAE `_PAGE_NX` is 0 and silently drops the request; here the caller must
//! ask for what the hardware will do, `exec: true`, or use PAE). Leaves decode with
//! `exec: true` always, so every accepted protection round-trips.
//!
//! # PAE paging (SDM 4.4)
//! CR3 points to a page-directory-pointer table of 4 8-byte entries (32 bytes, 32-byte
//! aligned), each covering 1 GiB. A PDPTE has only P (bit 0), PWT (3), PCD (4) and the
//! address; bits 2:1, 8:5 and 63 are reserved (a set reserved bit makes the CR3 load
//! fault), so it is written as `address | P`, and there are no 1 GiB pages. Below it, page
//! directories of 512 entries (2 MiB each: a table pointer or, with PS, a 2 MiB page) and
//! page tables of 512 entries (4 KiB). The processor loads the four PDPTEs into registers
//! when CR3 is written: a PDPTE changed later takes effect only at the next CR3 load
//! (Linux's `pud_populate` flushes the whole TLB through CR3 for that reason).

use super::x86_64::{x86_check_prot, x86_decode, x86_leaf, x86_table, PTE_ADDR, PTE_P};
use crate::pgtable::{Entry, Level, PagingMode, PgError, Prot, VaRange};

const LEVELS_2: [Level; 2] = [Level { shift: 22, bits: 10, leaf: true }, Level { shift: 12, bits: 10, leaf: true }];
const LEVELS_PAE: [Level; 3] = [
    Level { shift: 30, bits: 2, leaf: false },
    Level { shift: 21, bits: 9, leaf: true },
    Level { shift: 12, bits: 9, leaf: true },
];

/// IA-32 paging of the 32-bit address space: 32-bit paging (4-byte entries, 4K and 4M
/// pages, no execute-disable) or, with `PAE`, PAE paging (8-byte entries, 4K and 2M pages,
/// execute-disable).
///
/// | mode        | levels                    | leaves  | entry | VA | PA |
/// |-------------|---------------------------|---------|-------|----|----|
/// | i386-2level | 1024 × 4M, 1024 × 4K      | 4M, 4K  | 4     | 32 | 32 |
/// | i386-pae    | 4 × 1G, 512 × 2M, 512 × 4K | 2M, 4K | 8     | 32 | 52 |
pub struct I386Paging<const PAE: bool>;

/// 32-bit paging (`i386-2level`).
pub type I386Paging2 = I386Paging<false>;
/// PAE paging (`i386-pae`).
pub type I386PagingPae = I386Paging<true>;

impl<const PAE: bool> PagingMode for I386Paging<PAE> {
    const NAME: &'static str = if PAE { "i386-pae" } else { "i386-2level" };
    const LEVELS: &'static [Level] = if PAE { &LEVELS_PAE } else { &LEVELS_2 };
    const ENTRY_SIZE: u64 = if PAE { 8 } else { 4 };
    const VA_BITS: u32 = 32;
    const VA_RANGE: VaRange = VaRange::Low;
    const PA_BITS: u32 = if PAE { 52 } else { 32 };

    /// The PAE page-directory-pointer table is loaded from CR3, a 32-bit register.
    fn table_pa_ok(pa: u64, level: usize) -> bool {
        let limit = if PAE && level != 0 { 52 } else { 32 };
        pa.checked_add(Self::table_bytes(level) - 1).is_some_and(|end| end >> limit == 0)
    }
    fn table_entry(pa: u64, level: usize) -> u64 {
        if PAE && level == 0 {
            PTE_P | (pa & PTE_ADDR)
        } else {
            x86_table(pa)
        }
    }

    fn leaf_entry(pa: u64, prot: Prot, level: usize) -> u64 {
        x86_leaf(pa, prot, level + 1 < Self::LEVELS.len())
    }

    fn decode(raw: u64, level: usize) -> Entry {
        if PAE && level == 0 {
            // A PDPTE is a table pointer or not present; bit 7 is reserved, not PS.
            return if raw & PTE_P == 0 { Entry::Invalid } else { Entry::Table(raw & PTE_ADDR) };
        }
        x86_decode(raw, Self::LEVELS, level)
    }

    fn check_prot(prot: Prot) -> Result<(), PgError> {
        x86_check_prot(prot, PAE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgtable::MemType;

    const KERNEL_RWX: Prot = Prot { exec: true, ..Prot::KERNEL_RW };

    /// Linux's `__PAGE_KERNEL` = P 0x1 | RW 0x2 | A 0x20 | D 0x40 | G 0x100 | NX (bit 63,
    /// zero without PAE); `__PAGE_KERNEL_EXEC` lacks NX; `_PAGE_TABLE` = P | RW | USER | A |
    /// D = 0x67; `_PAGE_PSE` 0x80 marks a large page.
    #[test]
    fn entries_match_linux() {
        assert_eq!(I386Paging2::leaf_entry(0xfedc_b000, KERNEL_RWX, 1), 0xfedc_b163);
        assert_eq!(I386Paging2::leaf_entry(0xff80_0000, KERNEL_RWX, 0), 0xff80_01e3);
        assert_eq!(I386Paging2::table_entry(0x0123_4000, 0), 0x0123_4067);
        assert_eq!(I386PagingPae::leaf_entry(0xf_fedc_b000, Prot::KERNEL_RW, 2), 0x8000_000f_fedc_b163);
        assert_eq!(I386PagingPae::leaf_entry(0x4000_0000, Prot::KERNEL_RW, 1), 0x8000_0000_4000_01e3);
        // The PDPTE: address | P only (RW, US, A, D are reserved there).
        assert_eq!(I386PagingPae::table_entry(0x0123_4000, 0), 0x0123_4001);
        assert_eq!(I386PagingPae::table_entry(0x0123_4000, 1), 0x0123_4067);
        // User read-write, not global, write-combining (PWT: PAT entry 1).
        let user_wc = Prot { mem: MemType::WriteCombine, ..Prot::USER_RW };
        assert_eq!(I386PagingPae::leaf_entry(0x5000, user_wc, 2), 0x8000_0000_0000_506f);
    }

    #[test]
    fn decoding_follows_the_format() {
        // Without NX every page executes.
        assert_eq!(I386Paging2::decode(0xfedc_b163, 1), Entry::Leaf { pa: 0xfedc_b000, prot: KERNEL_RWX });
        // A PDPTE is a table even with bit 7 set (reserved, not PS).
        assert_eq!(I386PagingPae::decode(0x0123_4081, 0), Entry::Table(0x0123_4000));
        assert_eq!(I386PagingPae::decode(0x0123_4080, 0), Entry::Invalid);
        // A 2M page keeps only its aligned address (bit 12 is PAT there).
        assert!(matches!(I386PagingPae::decode(0x4000_11e3, 1), Entry::Leaf { pa: 0x4000_0000, .. }));
    }

    #[test]
    fn no_execute_needs_pae() {
        assert!(I386Paging2::check_prot(Prot::KERNEL_RW).is_err());
        assert!(I386Paging2::check_prot(KERNEL_RWX).is_ok());
        assert!(I386PagingPae::check_prot(Prot::KERNEL_RW).is_ok());
        assert!(I386PagingPae::check_prot(Prot { read: false, ..KERNEL_RWX }).is_err());
    }
}
