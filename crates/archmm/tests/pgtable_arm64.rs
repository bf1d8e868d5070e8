//! The page-table engine with the arm64 (AArch64 stage 1) modes against the model of
//! common/mod.rs, and, for the 4K granule, against an independent encoder: Google's
//! `aarch64-paging` crate. Kernel (TTBR1) windows start at Linux's PAGE_OFFSET,
//! `-(1 << VA_BITS)`, where the linear map begins.

mod common;

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::arm64::{Arm64Paging4K39, Arm64Paging4K48, Arm64Paging4K48Ttbr0};
use archmm::pgtable::{Entry, FlushLog, MapFlags, MemType, PageTable, PagingMode, Prot, VaRange};

mode_tests!(arm64_4k_39, archmm::arch::arm64::Arm64Paging4K39, 0xffff_ff80_0000_0000);
mode_tests!(arm64_4k_48, archmm::arch::arm64::Arm64Paging4K48, 0xffff_0000_0000_0000);
mode_tests!(arm64_4k_48_ttbr0, archmm::arch::arm64::Arm64Paging4K48Ttbr0, 0x0000_0040_0000_0000);
mode_tests!(arm64_16k_36, archmm::arch::arm64::Arm64Paging16K36, 0xffff_fff0_0000_0000);
mode_tests!(arm64_16k_47, archmm::arch::arm64::Arm64Paging16K47, 0xffff_8000_0000_0000);
// Upper half of the 2-entry level-0 table.
mode_tests!(arm64_16k_48, archmm::arch::arm64::Arm64Paging16K48, 0xffff_8000_0000_0000);
mode_tests!(arm64_64k_42, archmm::arch::arm64::Arm64Paging64K42, 0xffff_fc00_0000_0000);
mode_tests!(arm64_64k_48, archmm::arch::arm64::Arm64Paging64K48, 0xffff_0000_0000_0000);
mode_tests!(arm64_64k_52, archmm::arch::arm64::Arm64Paging64K52, 0xfff0_0000_0000_0000);
// Two more user halves (not in the mode list): the large granules in TTBR0.
mode_tests!(arm64_16k_47_ttbr0, archmm::arch::arm64::Arm64Paging<16, 47, true>, 0x0000_0040_0000_0000);
mode_tests!(arm64_64k_52_ttbr0, archmm::arch::arm64::Arm64Paging<64, 52, true>, 0x0008_0000_0000_0000);

mod differential {
    //! Map the same ranges with archmm and with `aarch64-paging` (4K granule only: the crate
    //! has no 16K or 64K support) and compare every descriptor the crate's walk visits.
    //!
    //! `aarch64-paging` takes the attribute bits from its caller, so there is no attribute
    //! policy of its own to mask: the flags below are spelled with its names for the ARM ARM
    //! bits, from what each protection means (D8.4), and everything else — the type bits of
    //! pages, blocks and tables, where the output address goes, which levels get blocks,
    //! which tables exist — is the crate's own. Only table addresses differ (each side
    //! allocates its tables), so table descriptors are compared without their address: the
    //! crate writes `address | VALID | TABLE_OR_PAGE`, no hierarchical attributes.

    use super::*;
    use aarch64_paging::descriptor::{El1Attributes as A, PhysicalAddress};
    use aarch64_paging::paging::{Constraints, El1And0, MemoryRegion, RootTable, VaRange as CrateRange};
    use aarch64_paging::target::TargetAllocator;
    use common::{Alloc, Mem};

    /// The crate's flags for `p`: AF and Inner Shareable always, Linux's AttrIndx, AP[2:1]
    /// from the access rights, nG, and the execute-never bit of the other privilege level.
    fn flags(p: Prot) -> A {
        let mut f = A::VALID | A::ACCESSED | A::INNER_SHAREABLE;
        f |= match p.mem {
            MemType::Normal => A::ATTRIBUTE_INDEX_0,
            MemType::WriteCombine => A::ATTRIBUTE_INDEX_2,
            MemType::Device => A::ATTRIBUTE_INDEX_4,
        };
        if !p.write {
            f |= A::READ_ONLY;
        }
        if p.user && p.read {
            f |= A::USER;
        }
        if !p.global {
            f |= A::NON_GLOBAL;
        }
        match (p.user, p.exec) {
            (true, true) => f | A::PXN,
            (true, false) | (false, false) => f | A::PXN | A::UXN,
            (false, true) => f | A::UXN,
        }
    }

    fn compare<Mo: PagingMode>() {
        let span = 1u64 << Mo::VA_BITS;
        let base = if Mo::VA_RANGE == VaRange::High { span.wrapping_neg() } else { 0 };
        let user_rx = Prot { read: true, write: false, exec: true, user: true, global: false, mem: MemType::Normal };
        let g = 1u64 << 30;
        let m2 = 1u64 << 21;
        // (VA offset, PA, size, protection): pages, 2M and 1G blocks, runs that cross block
        // boundaries, a PA misaligned for blocks, the top of the PA space.
        let ranges = [
            (0x1000, 0x8000_1000, 0x3000, Prot::KERNEL_RW),
            (m2, 0x4020_0000, 2 * m2, Prot::KERNEL_RX),
            (g, 2 * g, g + m2 + 0x5000, Prot::KERNEL_RO),
            (3 * g - 0x3000, 0x7fff_d000, 0x3000 + 3 * m2, Prot { global: false, ..Prot::KERNEL_RW }),
            (4 * g, 0x1234_5000, 2 * m2, Prot::USER_RW),
            (5 * g, 0xfe00_0000, m2 + 0x2000, Prot::KERNEL_DEVICE),
            (6 * g, 0x9000_0000, m2, Prot { mem: MemType::WriteCombine, ..Prot::KERNEL_RW }),
            (7 * g, 0x1_0000_0000, 0x4000, user_rx),
            (7 * g + 0x4000, 0x1_0000_4000, 0x1000, Prot { read: false, ..user_rx }),
            (8 * g, 0xffff_c000_0000, g, Prot { exec: true, ..Prot::KERNEL_RW }),
            (span - g - 0x2000, 0xffff_ffff_e000, 0x2000, Prot::KERNEL_RW),
        ];

        let mem = Mem::default();
        let mut alloc = Alloc::for_mode::<Mo>();
        let mut tlb = FlushLog::default();
        let mut pt = PageTable::<Mo, Mem>::new(&mem, &mut alloc).expect("root");
        let root_level = 4 - Mo::LEVELS.len();
        let half = if Mo::VA_RANGE == VaRange::High { CrateRange::Upper } else { CrateRange::Lower };
        let mut theirs = RootTable::with_va_range(TargetAllocator::new(0x8000_0000), root_level, El1And0, half);
        for &(off, pa, size, prot) in &ranges {
            let va = base.wrapping_add(off);
            pt.map(VirtAddr(va), PhysAddr(pa), size, prot, MapFlags::default(), &mut alloc, &mut tlb)
                .expect("archmm map");
            let region = MemoryRegion::new(va as usize, va.wrapping_add(size) as usize);
            theirs
                .map_range(&region, PhysicalAddress(pa as usize), flags(prot), Constraints::empty())
                .expect("aarch64-paging map");
        }

        let mut leaves = 0;
        for &(off, _, size, _) in &ranges {
            let va = base.wrapping_add(off);
            let region = MemoryRegion::new(va as usize, va.wrapping_add(size) as usize);
            theirs
                .walk_range(&region, &mut |chunk, desc, level| {
                    let at = chunk.start().0 as u64;
                    let want = desc.output_address().0 as u64 | desc.flags().bits() as u64;
                    let (steps, n) = pt.walk(VirtAddr(at));
                    let steps: Vec<_> = steps[..n].iter().map(|s| s.expect("step")).collect();
                    let last = steps.last().expect("walk");
                    assert_eq!(root_level + last.level, level, "{}: leaf level at {at:#x}", Mo::NAME);
                    assert_eq!(
                        last.raw,
                        want,
                        "{}: descriptor at {at:#x}: ours {:#x}, theirs {want:#x}",
                        Mo::NAME,
                        last.raw
                    );
                    for s in &steps[..n - 1] {
                        let Entry::Table(t) = s.entry else { panic!("{}: not a table above {at:#x}", Mo::NAME) };
                        assert_eq!(s.raw, t | 0b11, "{}: table descriptor at {at:#x}", Mo::NAME);
                    }
                    leaves += 1;
                    Ok(())
                })
                .expect("walk");
        }
        assert!(leaves > 1000, "{}: only {leaves} descriptors compared", Mo::NAME);
    }

    #[test]
    fn descriptors_match_aarch64_paging_4k_48_ttbr1() {
        compare::<Arm64Paging4K48>();
    }

    #[test]
    fn descriptors_match_aarch64_paging_4k_48_ttbr0() {
        compare::<Arm64Paging4K48Ttbr0>();
    }

    #[test]
    fn descriptors_match_aarch64_paging_4k_39_ttbr1() {
        compare::<Arm64Paging4K39>();
    }
}
