//! Kernel protections and a user address space on real paging hardware.
//!
//! After the bring-up (which ran mark_rodata_ro() and the W^X check on the live tables):
//! - through the kernel image mapping, rodata reads but a write faults, data is writable
//!   but an instruction fetch from it faults, and text executes; the linear map's alias of
//!   rodata refuses writes too;
//! - a user address space built by archmm (kernel half shared as the arch shares it, the
//!   vDSO placed by the arch's rule) is loaded into the MMU and the vDSO is read through
//!   the user mapping; tearing it down gives every page back.

use crate::arch::{self, Paging, A};
use crate::kmem::KernelMem;
use crate::println;
use crate::selftest::Fail;
use archmm::arch::Arch;
use archmm::boot::Booted;
use archmm::buddy::Gfp;
use archmm::early::MmAlloc;
use archmm::physmem::PhysMem;
use archmm::uspace::{arch_setup_additional_pages, AddressSpace};

/// A word in .rodata the probes read and try to write.
static RO_WORD: u64 = 0x0123_4567_89ab_cdef;
/// Bytes in .bss where a return instruction is planted for the execute probe.
static mut EXEC_PAD: [u8; 64] = [0; 64];

/// Run both checks.
pub fn run(b: &mut Booted<'_, A, KernelMem>) -> Result<(), Fail> {
    protections(b)?;
    user_space(b)
}

fn protections(b: &Booted<'_, A, KernelMem>) -> Result<(), Fail> {
    use archmm::protect::Section;
    let p = match &arch::PROBES {
        Ok(p) => p,
        Err(why) => {
            println!("archmm-kernel: protection probes skipped: {why}");
            return Ok(());
        }
    };
    let img = b.ctx.layout.image.ok_or("no kernel image mapping")?;
    let alias = |pa: u64| img.va + (pa - img.pa);
    let ro_pa = core::ptr::addr_of!(RO_WORD) as u64;
    let (ro_off, ro_len) = img.section(Section::Rodata);
    if !(img.pa + ro_off..img.pa + ro_off + ro_len).contains(&ro_pa) {
        return Err("RO_WORD is not in the rodata section the layout describes");
    }
    let ro = alias(ro_pa);
    match p.read(ro) {
        Ok(v) if v == RO_WORD => {}
        Ok(_) => return Err("rodata reads wrong through the image mapping"),
        Err(_) => return Err("rodata does not read through the image mapping"),
    }
    let w = p.write(ro).ok_or("a write to rodata through the image mapping did not fault")?;
    let lm = (b.ctx.layout.page_offset.wrapping_add(ro_pa)) & A::KERNEL_VA_MASK;
    let w2 = p.write(lm).ok_or("a write to rodata's linear-map alias did not fault")?;
    if p.read(lm) != Ok(RO_WORD) {
        return Err("rodata's linear alias does not read");
    }
    // A return instruction planted in bss: writable, but not executable.
    let pad = core::ptr::addr_of_mut!(EXEC_PAD) as u64;
    // SAFETY: EXEC_PAD is this module's scratch array; nothing else refers to it.
    unsafe { core::ptr::copy_nonoverlapping(p.ret.as_ptr(), pad as *mut u8, p.ret.len()) };
    if p.write(alias(pad) + 32).is_some() {
        return Err("bss is not writable through the image mapping");
    }
    let x = p.exec(alias(pad)).ok_or("an instruction fetch from bss through the image mapping did not fault")?;
    if let Some(f) = p.exec(alias(p.text_ret())) {
        println!("archmm-kernel: text fetch faulted: cause {:#x} at {:#x}", f.cause, f.addr);
        return Err("text does not execute through the image mapping");
    }
    println!(
        "archmm-kernel: W^X on the live tables: rodata write faulted (cause {:#x} at {:#x}), its linear alias too (cause {:#x}), bss fetch faulted (cause {:#x} at {:#x}), text ran",
        w.cause, w.addr, w2.cause, x.cause, x.addr
    );
    Ok(())
}

/// A recognisable vDSO text: an ELF magic and a tag.
const VDSO_TAG: u64 = u64::from_le_bytes(*b"\x7fELFvdso");

fn user_space(b: &mut Booted<'_, A, KernelMem>) -> Result<(), Fail> {
    let kernel_root = b.ctx.pgd.ok_or("no kernel page table")?;
    let page = A::page_size();
    let mem = KernelMem;
    b.pages.drain_cpu(0);
    let before = b.pages.nr_free_pages();
    let mut frames = [0u64; 8];
    let n = A::VDSO.vvar_pages as usize + 2;
    if n > frames.len() {
        return Err("vDSO larger than the test's frame table");
    }
    for (i, f) in frames[..n].iter_mut().enumerate() {
        let pfn = b.pages.alloc(0, Gfp::KERNEL.or(Gfp::ZERO), 0, 0).map_err(|_| "no page for the vDSO")?;
        *f = pfn * page;
        mem.write_u64(archmm::addr::PhysAddr(*f), VDSO_TAG ^ i as u64);
    }
    let (vvar, text) = frames[..n].split_at(A::VDSO.vvar_pages as usize);
    let mut alloc = MmAlloc::<Paging, KernelMem>::new(&mut b.ctx.memblock, Some(&b.pages), 0);
    let mut mm = AddressSpace::<<A as Arch>::UserPaging, KernelMem>::new(
        &mem,
        &mut alloc,
        A::TASK_SIZE,
        A::USER_SHARE,
        Some(kernel_root.0),
    )
    .map_err(|_| "no user root")?;
    // While the kernel runs from its identity map, the user root shares that too.
    mm.share_from(arch::identity_root(kernel_root.0), |va| va < 1 << 32);
    let v = arch_setup_additional_pages(&mut mm, &A::VDSO, vvar, text, &mut alloc, &mut arch::Tlb)
        .map_err(|_| "arch_setup_additional_pages failed")?;
    let (mut got_text, mut got_vvar) = (0u64, 0u64);
    arch::with_user_root(mm.root(), kernel_root.0, || {
        // SAFETY: v.text and v.vvar are mapped user-readable in the address space now in
        // the MMU (kernel access to user pages is allowed here); plain reads.
        unsafe {
            got_text = core::ptr::read_volatile(v.text as *const u64);
            got_vvar = if vvar.is_empty() { VDSO_TAG } else { core::ptr::read_volatile(v.vvar as *const u64) };
        }
    });
    let want_text = VDSO_TAG ^ A::VDSO.vvar_pages;
    println!(
        "archmm-kernel: user address space (root {:#x}, {}): [vvar] at {:#x}, [vdso] at {:#x}, read through the user mapping: {}",
        mm.root(),
        <<A as Arch>::UserPaging as archmm::pgtable::PagingMode>::NAME,
        v.vvar,
        v.text,
        if got_text == want_text && got_vvar == VDSO_TAG { "ok" } else { "WRONG" }
    );
    mm.destroy(&mut alloc);
    for &f in &frames[..n] {
        b.pages.free(0, f / page, 0).map_err(|_| "freeing a vDSO page failed")?;
    }
    b.pages.drain_cpu(0);
    let after = b.pages.nr_free_pages();
    println!("archmm-kernel: user address space torn down: {after} free pages (before {before})");
    if got_text != want_text || got_vvar != VDSO_TAG {
        return Err("the vDSO did not read back through the user mapping");
    }
    if after != before {
        return Err("tearing the user address space down leaked pages");
    }
    Ok(())
}
