//! User address spaces: the kernel half shared as each arch shares it, user mappings,
//! the vDSO placed by the arch's rule, refused requests changing nothing, and teardown
//! freeing every table the address space owns (and none of the kernel's).

mod common;

use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::Arch;
use archmm::pgtable::{FlushLog, MapFlags, PageTable, PagingMode, Prot};
use archmm::uspace::{arch_setup_additional_pages, AddressSpace, KernelShare, UspaceError, MMAP_MIN_GAP};
use common::{Alloc, Mem};

/// Build a kernel table with a linear mapping at `A::PAGE_OFFSET`, then a user address
/// space the arch's way; check sharing, the vDSO, refusals and teardown.
fn exercise<A: Arch>() {
    let mem = Mem::default();
    let mut alloc = Alloc::for_mode::<A::Paging>();
    let mut tlb = FlushLog::default();
    let page = A::page_size();
    let mut kpt = PageTable::<A::Paging, Mem>::new(&mem, &mut alloc).expect("kernel root");
    // The linear map's start, or (LoongArch, whose linear map is a hardware window) the
    // bottom of the kernel half the table translates.
    let half = 1u64 << (<A::Paging as PagingMode>::VA_BITS - 1);
    let kva = [A::PAGE_OFFSET & A::KERNEL_VA_MASK, 0u64.wrapping_sub(half), half]
        .into_iter()
        .find(|&v| archmm::pgtable::va_ok::<A::Paging>(v) && archmm::pgtable::va_ok::<A::Paging>(v + 16 * page))
        .expect("a kernel address");
    let krw = common::expressible::<A::Paging>(Prot::KERNEL_RW);
    kpt.map(VirtAddr(kva), PhysAddr(0x40_0000), 16 * page, krw, MapFlags::default(), &mut alloc, &mut tlb)
        .expect("kernel mapping");
    let kernel_tables: Vec<u64> = alloc.live.keys().copied().collect();

    let mut mm =
        AddressSpace::<A::UserPaging, Mem>::new(&mem, &mut alloc, A::TASK_SIZE, A::USER_SHARE, Some(kpt.root().0))
            .expect("mm");
    // The kernel half: reachable through the user root exactly when the arch copies it.
    if A::USER_SHARE == KernelShare::CopyTopLevel {
        let t = PageTable::<A::UserPaging, Mem>::from_root(&mem, PhysAddr(mm.root()))
            .translate(VirtAddr(kva))
            .expect("kernel half shared");
        assert_eq!(t.pa, PhysAddr(0x40_0000), "{}", A::NAME);
    }
    assert_eq!(mm.mmap_base(), (A::TASK_SIZE - MMAP_MIN_GAP) & !(page - 1));

    // The vDSO where the rule says: top-down from the mmap base (or at the hint).
    let vvar: Vec<u64> = (0..A::VDSO.vvar_pages).map(|i| 0x100_0000 + i * page).collect();
    let text = [0x200_0000, 0x200_0000 + page];
    let v = arch_setup_additional_pages(&mut mm, &A::VDSO, &vvar, &text, &mut alloc, &mut tlb).expect("vdso");
    let len = (A::VDSO.vvar_pages + 2) * page;
    let want = if A::VDSO.at_task_top { A::TASK_SIZE - len } else { mm.mmap_base() - len };
    assert_eq!(v.vvar, want, "{}: vDSO placement", A::NAME);
    assert_eq!(v.text, want + A::VDSO.vvar_pages * page);
    let upt = PageTable::<A::UserPaging, Mem>::from_root(&mem, PhysAddr(mm.root()));
    let t = upt.translate(VirtAddr(v.text + page + 8)).expect("vdso text mapped");
    assert_eq!(t.pa, PhysAddr(text[1] + 8));
    assert!(t.prot.user && t.prot.exec && !t.prot.write, "{}: vdso text {:?}", A::NAME, t.prot);
    if let Some(&vv) = vvar.first() {
        let t = upt.translate(VirtAddr(v.vvar)).expect("vvar mapped");
        assert_eq!(t.pa, PhysAddr(vv));
        assert!(t.prot.user && !t.prot.write);
    }
    // A second vDSO goes below the first.
    let v2 = arch_setup_additional_pages(&mut mm, &A::VDSO, &vvar, &text, &mut alloc, &mut tlb).expect("second vdso");
    assert!(v2.vvar + len <= v.vvar || v2.vvar >= v.vvar + len, "{}: overlapping vDSOs", A::NAME);

    // Refusals change nothing.
    let before = alloc.live.clone();
    let user_rw = Prot::USER_RW;
    let user_rw = if <A::UserPaging as PagingMode>::check_prot(user_rw).is_ok() {
        user_rw
    } else {
        Prot { exec: true, ..user_rw }
    };
    assert_eq!(mm.map(v.text, 0x300_0000, page, user_rw, &mut alloc, &mut tlb), Err(UspaceError::Overlap(v.text)));
    assert!(matches!(
        mm.map(A::TASK_SIZE, 0x300_0000, page, user_rw, &mut alloc, &mut tlb),
        Err(UspaceError::BadRange { .. })
    ));
    assert!(matches!(
        mm.map(0x1000_0000 + 1, 0x300_0000, page, user_rw, &mut alloc, &mut tlb),
        Err(UspaceError::BadRange { .. })
    ));
    assert_eq!(mm.map(0x1000_0000, 0x300_0000, page, Prot::KERNEL_RW, &mut alloc, &mut tlb), Err(UspaceError::NotUser));
    assert!(matches!(mm.unmap(v.text, page, &mut alloc, &mut tlb), Err(UspaceError::NoSuchMapping(_))));
    assert_eq!(alloc.live, before, "{}: a refused call changed the tables", A::NAME);

    // An ordinary mapping, then unmap it: its tables go.
    let va = 0x1000_0000u64.next_multiple_of(page);
    mm.map(va, 0x400_0000, 4 * page, user_rw, &mut alloc, &mut tlb).expect("map");
    assert_eq!(upt.translate(VirtAddr(va + 3 * page)).map(|t| t.pa), Some(PhysAddr(0x400_0000 + 3 * page)));
    mm.unmap(va, 4 * page, &mut alloc, &mut tlb).expect("unmap");
    assert!(upt.translate(VirtAddr(va)).is_none());
    assert_eq!(alloc.live, before, "{}: unmapping left tables behind", A::NAME);

    // Teardown: only the kernel's tables remain, and the kernel still translates.
    mm.destroy(&mut alloc);
    let left: Vec<u64> = alloc.live.keys().copied().collect();
    assert_eq!(left, kernel_tables, "{}: teardown leaked user tables or freed kernel ones", A::NAME);
    assert_eq!(kpt.translate(VirtAddr(kva + page)).map(|t| t.pa), Some(PhysAddr(0x40_0000 + page)));
}

#[test]
fn x86_64() {
    exercise::<archmm::arch::x86_64::X86<false>>();
    exercise::<archmm::arch::x86_64::X86<true>>();
}

#[test]
fn arm64() {
    exercise::<archmm::arch::arm64::Arm64G<4, 48>>();
    exercise::<archmm::arch::arm64::Arm64G<16, 47>>();
    exercise::<archmm::arch::arm64::Arm64G<64, 52>>();
}

#[test]
fn riscv64() {
    exercise::<archmm::arch::riscv64::Riscv<3>>();
    exercise::<archmm::arch::riscv64::Riscv<4>>();
    exercise::<archmm::arch::riscv64::Riscv<5>>();
}

#[test]
fn thirty_two_bit() {
    exercise::<archmm::arch::i386::I386<true>>();
    exercise::<archmm::arch::i386::I386<false>>();
    exercise::<archmm::arch::arm::Arm32<true>>();
    exercise::<archmm::arch::arm::Arm32<false>>();
}

#[test]
fn separate_roots() {
    exercise::<archmm::arch::loongarch64::LoongArch<14, 3>>();
    exercise::<archmm::arch::s390::S390<3>>();
    exercise::<archmm::arch::s390::S390<4>>();
    exercise::<archmm::arch::powerpc::Ppc64<16>>();
}
