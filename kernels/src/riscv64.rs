//! riscv64 on QEMU `virt` with OpenSBI: entered in S-mode with `a0` = hart id and `a1` =
//! the device tree, `satp` = 0 (bare); console and shutdown through SBI; a failure is
//! reported through the `virt` machine's test finisher, which exits QEMU with a status.
//!
//! paging_init adds the running image and the finisher to archmm's kernel table at their
//! physical addresses (the low half of Sv39) and writes `satp`.

use crate::kmem::KernelMem;
use crate::{kmain, println, Image};
use archmm::arch::riscv64::Riscv64;
use archmm::arch::Arch;
use archmm::boot::{BootCtx, BootError, Platform};
use archmm::pgtable::{PagingMode, Prot, TlbFlush};
use core::arch::{asm, global_asm};

/// The arch the kernel boots.
pub type A = Riscv64;
/// Its kernel paging mode.
pub type Paging = <A as Arch>::Paging;
/// Linux's name.
pub const NAME: &str = "riscv64";
/// A kernel virtual address outside the linear map for the mapping test (Linux's Sv39
/// vmalloc area starts at 0xffffffc800000000).
pub const TEST_VA: u64 = 0xffff_ffc8_1000_0000;

/// The `virt` machine's test finisher (sifive,test1): `status << 16 | 0x3333` exits QEMU.
const FINISHER: u64 = 0x10_0000;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    li t0, (1 << 13)            // sstatus.FS = Initial: Rust code may use FP registers
    csrs sstatus, t0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  la sp, {stack}
    li t0, {stack_size}
    add sp, sp, t0
    la t0, riscv_trap_entry
    csrw stvec, t0
    call riscv_main
3:  wfi
    j 3b

    .balign 4
riscv_trap_entry:
    addi sp, sp, -256
    sd ra, 8(sp)
    sd gp, 16(sp)
    sd tp, 24(sp)
    sd t0, 32(sp)
    sd t1, 40(sp)
    sd t2, 48(sp)
    sd s0, 56(sp)
    sd s1, 64(sp)
    sd a0, 72(sp)
    sd a1, 80(sp)
    sd a2, 88(sp)
    sd a3, 96(sp)
    sd a4, 104(sp)
    sd a5, 112(sp)
    sd a6, 120(sp)
    sd a7, 128(sp)
    sd s2, 136(sp)
    sd s3, 144(sp)
    sd s4, 152(sp)
    sd s5, 160(sp)
    sd s6, 168(sp)
    sd s7, 176(sp)
    sd s8, 184(sp)
    sd s9, 192(sp)
    sd s10, 200(sp)
    sd s11, 208(sp)
    sd t3, 216(sp)
    sd t4, 224(sp)
    sd t5, 232(sp)
    sd t6, 240(sp)
    call riscv_trap             // returns only for a probe's expected fault (sepc moved)
    ld ra, 8(sp)
    ld gp, 16(sp)
    ld tp, 24(sp)
    ld t0, 32(sp)
    ld t1, 40(sp)
    ld t2, 48(sp)
    ld s0, 56(sp)
    ld s1, 64(sp)
    ld a0, 72(sp)
    ld a1, 80(sp)
    ld a2, 88(sp)
    ld a3, 96(sp)
    ld a4, 104(sp)
    ld a5, 112(sp)
    ld a6, 120(sp)
    ld a7, 128(sp)
    ld s2, 136(sp)
    ld s3, 144(sp)
    ld s4, 152(sp)
    ld s5, 160(sp)
    ld s6, 168(sp)
    ld s7, 176(sp)
    ld s8, 184(sp)
    ld s9, 192(sp)
    ld s10, 200(sp)
    ld s11, 208(sp)
    ld t3, 216(sp)
    ld t4, 224(sp)
    ld t5, 232(sp)
    ld t6, 240(sp)
    addi sp, sp, 256
    sret

    // Probes (a0 = address): 0 if the access completed, 1 if it faulted.
    .global riscv_probe_read
riscv_probe_read:
    ld a0, 0(a0)
    ret
    .global riscv_probe_write
riscv_probe_write:
    li t0, 0x5a
    sb t0, 0(a0)
    li a0, 0
    ret
    .global riscv_probe_exec
riscv_probe_exec:
    addi sp, sp, -16
    sd ra, 8(sp)
    jalr a0
    ld ra, 8(sp)
    addi sp, sp, 16
    li a0, 0
    ret
    .global riscv_probe_fixup
riscv_probe_fixup:
    li a0, 1
    ret
    .global riscv_probe_fixup_exec
riscv_probe_fixup_exec:
    ld ra, 8(sp)                // the frame riscv_probe_exec pushed
    addi sp, sp, 16
    li a0, 1
    ret
    .global riscv_ret
riscv_ret:
    ret
"#,
    stack = sym crate::BOOT_STACK,
    stack_size = const crate::STACK_SIZE,
);

fn sbi(eid: usize, fid: usize, a0: usize, a1: usize) -> isize {
    let err: isize;
    // SAFETY: an SBI call into OpenSBI; it only reads its arguments.
    unsafe { asm!("ecall", inlateout("a0") a0 => err, inlateout("a1") a1 => _, in("a6") fid, in("a7") eid) };
    err
}

/// Write one byte through the SBI console (legacy console_putchar).
pub fn putc(b: u8) {
    sbi(0x01, 0, b as usize, 0);
}

/// Leave QEMU: SBI system reset (shutdown, exit status 0) on success; the test finisher
/// with status 1 on failure (OpenSBI's shutdown always reports a pass).
pub fn exit(pass: bool) -> ! {
    if pass {
        sbi(0x5352_5354, 0, 0, 0);
    }
    // SAFETY: the finisher's register is identity-mapped (or reached with satp bare);
    // writing it ends the machine.
    unsafe { core::ptr::write_volatile(FINISHER as *mut u32, (1 << 16) | 0x3333) };
    loop {
        // SAFETY: waiting for an interrupt has no other effect.
        unsafe { asm!("wfi") };
    }
}

#[no_mangle]
extern "C" fn riscv_trap() {
    let (cause, tval, epc): (u64, u64, u64);
    // SAFETY: reading supervisor trap CSRs has no side effects.
    unsafe { asm!("csrr {}, scause", "csrr {}, stval", "csrr {}, sepc", out(reg) cause, out(reg) tval, out(reg) epc) };
    // Instruction (12), load (13) or store (15) page faults.
    if matches!(cause, 12 | 13 | 15) {
        if let Some(fixup) = crate::probe::catch(cause, tval) {
            // SAFETY: sret resumes at the probe's fixup, in the probe's own frame.
            unsafe { asm!("csrw sepc, {}", in(reg) fixup) };
            return;
        }
    }
    println!("archmm-kernel: trap: scause {cause:#x} stval {tval:#x} sepc {epc:#x}");
    exit(false)
}

extern "C" {
    fn riscv_probe_read(va: u64) -> u64;
    fn riscv_probe_write(va: u64) -> u64;
    fn riscv_probe_exec(va: u64) -> u64;
    fn riscv_probe_fixup();
    fn riscv_probe_fixup_exec();
    fn riscv_ret();
}

/// The protection probes (the image mapping, read-only and no-execute are enforced here).
pub const PROBES: Result<crate::probe::Probes, &str> = Ok(crate::probe::Probes {
    read: riscv_probe_read,
    write: riscv_probe_write,
    exec: riscv_probe_exec,
    fixup: riscv_probe_fixup,
    fixup_exec: riscv_probe_fixup_exec,
    text_ret: riscv_ret,
    ret: &[0x67, 0x80, 0x00, 0x00],
    sync_icache: || {
        // SAFETY: fence.i only orders instruction fetches after earlier stores.
        unsafe { asm!("fence.i") }
    },
});

/// The root whose low entries map the running image (the kernel table's low half).
pub fn identity_root(kernel_root: u64) -> u64 {
    kernel_root
}

/// Run `f` with `user_root` in satp and sstatus.SUM set (supervisor access to user pages).
pub fn with_user_root(user_root: u64, kernel_root: u64, f: impl FnOnce()) {
    let mode: u64 = match Paging::LEVELS.len() {
        5 => 10,
        4 => 9,
        _ => 8,
    };
    // SAFETY: the user root shares the kernel half and the identity map of this image and
    // the finisher, so execution continues; satp and SUM are restored before returning.
    unsafe {
        asm!("csrs sstatus, {sum}", "csrw satp, {}", "sfence.vma", in(reg) (mode << 60) | (user_root >> 12), sum = in(reg) 1u64 << 18)
    };
    f();
    // SAFETY: back to the kernel table.
    unsafe {
        asm!("csrw satp, {}", "sfence.vma", "csrc sstatus, {sum}", in(reg) (mode << 60) | (kernel_root >> 12), sum = in(reg) 1u64 << 18)
    };
}

/// Real TLB maintenance: sfence.vma per page, or all for large ranges.
pub struct Tlb;
impl TlbFlush for Tlb {
    fn flush_range(&mut self, start: u64, end: u64) {
        // SAFETY: sfence.vma only orders table writes and drops cached translations.
        unsafe {
            if end.wrapping_sub(start) > (1 << 30) {
                asm!("sfence.vma");
            } else {
                let mut va = start;
                while va < end {
                    asm!("sfence.vma {}, zero", in(reg) va);
                    va = va.wrapping_add(4096);
                }
            }
        }
    }
}

/// New entries become visible to the walker after sfence.vma (a hart may cache invalid
/// entries).
pub fn publish_mappings() {
    // SAFETY: as in `Tlb`.
    unsafe { asm!("sfence.vma") }
}

/// The platform: loads archmm's table into satp at paging_init.
#[derive(Debug)]
pub struct Hw;

impl Platform<A, KernelMem> for Hw {
    fn flush_tlb_kernel_range(&mut self, start: u64, end: u64) {
        Tlb.flush_range(start, end);
    }

    fn paging_init(&mut self, ctx: &mut BootCtx<'_, A, KernelMem>) -> Result<(), BootError> {
        let img = Image::get();
        // Without Svpbmt (QEMU 7.2's default harts) memory types come from the PMAs, so the
        // finisher is mapped like memory; the platform makes it I/O.
        for ((s, e), prot) in img.identity_ranges().into_iter().chain([((FINISHER, FINISHER + 4096), Prot::KERNEL_RW)])
        {
            ctx.map_kernel(s, s, e - s, prot, true)?;
        }
        let root = ctx.pgd.ok_or(BootError::NoMemory)?;
        let mode: u64 = match Paging::LEVELS.len() {
            5 => 10,
            4 => 9,
            _ => 8,
        };
        // SAFETY: the table maps this code, its stack and data at their physical addresses
        // and all RAM at PAGE_OFFSET, so the next instruction fetch and every later access
        // translate.
        unsafe { asm!("sfence.vma", "csrw satp, {}", "sfence.vma", in(reg) (mode << 60) | (root.0 >> 12)) };
        KernelMem::use_linear_map(ctx.layout.page_offset);
        println!(
            "archmm-kernel: satp {:#x} (Sv{}), root {root:#x}",
            (mode << 60) | (root.0 >> 12),
            39 + 9 * (Paging::LEVELS.len() - 3)
        );
        Ok(())
    }
}

#[no_mangle]
extern "C" fn riscv_main(hartid: u64, dtb: u64) -> ! {
    println!("archmm-kernel: hart {hartid}, device tree at {dtb:#x}");
    let (dt, total) = crate::device_tree_at(dtb);
    let img = Image::get();
    let fw = dt.firmware_map(Some(img.span), Some((dtb, dtb + total)), Image::sections());
    kmain(fw, &mut Hw)
}
