//! arm64 on QEMU `virt` (`-cpu cortex-a57`): entered at EL1 with the MMU off and the device
//! tree at the start of RAM; console on the PL011; exit through PSCI SYSTEM_OFF (pass) or
//! semihosting SYS_EXIT (fail).
//!
//! paging_init loads archmm's kernel table (the linear map, TTBR1) and an identity table
//! for the running image and the UART (TTBR0, also built with archmm's engine), with
//! Linux's MAIR and a TCR for 4K granules and 48-bit virtual addresses in both halves.

use crate::kmem::KernelMem;
use crate::{kmain, println, Image};
use archmm::addr::{PhysAddr, VirtAddr};
use archmm::arch::arm64::{Arm64, Arm64Paging4K48Ttbr0, LINUX_MAIR_EL1};
use archmm::arch::Arch;
use archmm::boot::{BootCtx, BootError, Platform};
use archmm::pgtable::{FlushLog, MapFlags, PageTable, Prot, TlbFlush};
use core::arch::{asm, global_asm};

/// The arch the kernel boots.
pub type A = Arm64;
/// Its kernel paging mode.
pub type Paging = <A as Arch>::Paging;
/// Linux's name.
pub const NAME: &str = "arm64";
/// A kernel virtual address outside the linear map for the mapping test (Linux's
/// VMALLOC area with 48-bit VAs starts at 0xffff800008000000).
pub const TEST_VA: u64 = 0xffff_8000_1000_0000;

const RAM_BASE: u64 = 0x4000_0000;
const UART: u64 = 0x0900_0000;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mov x1, #(3 << 20)          // CPACR_EL1.FPEN: Rust code may use FP/SIMD registers
    msr cpacr_el1, x1
    isb
    adrp x1, __bss_start
    add x1, x1, :lo12:__bss_start
    adrp x2, __bss_end
    add x2, x2, :lo12:__bss_end
1:  cmp x1, x2
    b.hs 2f
    str xzr, [x1], #8
    b 1b
2:  adrp x1, {stack}
    add x1, x1, :lo12:{stack}
    add sp, x1, #{stack_size}
    adrp x1, vectors
    add x1, x1, :lo12:vectors
    msr vbar_el1, x1
    isb
    bl aarch64_main
3:  wfe
    b 3b

    .balign 2048
vectors:
    .set i, 0
    .rept 16
    .balign 128
    sub sp, sp, #256
    stp x0, x1, [sp]
    mov x0, #i
    b aarch64_trap_common
    .set i, i + 1
    .endr

aarch64_trap_common:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    bl aarch64_trap             // returns only for a probe's expected fault (ELR_EL1 moved)
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    ldp x0, x1, [sp]
    add sp, sp, #256
    eret

    // Probes (x0 = address): 0 if the access completed, 1 if it faulted.
    .global aarch64_probe_read
aarch64_probe_read:
    ldr x0, [x0]
    ret
    .global aarch64_probe_write
aarch64_probe_write:
    mov w1, #0x5a
    strb w1, [x0]
    mov x0, #0
    ret
    .global aarch64_probe_exec
aarch64_probe_exec:
    stp x29, x30, [sp, #-16]!
    blr x0
    ldp x29, x30, [sp], #16
    mov x0, #0
    ret
    .global aarch64_probe_fixup
aarch64_probe_fixup:
    mov x0, #1
    ret
    .global aarch64_probe_fixup_exec
aarch64_probe_fixup_exec:
    ldp x29, x30, [sp], #16     // the frame aarch64_probe_exec pushed
    mov x0, #1
    ret
    .global aarch64_ret
aarch64_ret:
    ret
"#,
    stack = sym crate::BOOT_STACK,
    stack_size = const crate::STACK_SIZE,
);

/// Write one byte to the PL011.
pub fn putc(b: u8) {
    let base = KernelIo::addr(UART);
    // SAFETY: the PL011's flag and data registers, identity-mapped as device memory (or
    // reached with the MMU off); writing DR only queues a byte.
    unsafe {
        while core::ptr::read_volatile((base + 0x18) as *const u32) & (1 << 5) != 0 {}
        core::ptr::write_volatile(base as *mut u32, b as u32);
    }
}

/// Devices are identity-mapped before and after paging_init.
struct KernelIo;
impl KernelIo {
    fn addr(pa: u64) -> u64 {
        pa
    }
}

/// Leave QEMU: PSCI SYSTEM_OFF (exit status 0) on success, semihosting SYS_EXIT with
/// status 1 on failure.
pub fn exit(pass: bool) -> ! {
    if pass {
        // SAFETY: PSCI SYSTEM_OFF does not return.
        unsafe { asm!("hvc #0", in("x0") 0x8400_0008u64, options(noreturn)) }
    }
    let block: [u64; 2] = [0x2_0026, 1]; // ADP_Stopped_ApplicationExit, status 1
                                         // SAFETY: semihosting SYS_EXIT (with -semihosting) reads `block` and stops QEMU.
    unsafe { asm!("hlt #0xf000", in("x0") 0x18u64, in("x1") block.as_ptr(), options(noreturn)) }
}

#[no_mangle]
extern "C" fn aarch64_trap(kind: u64) {
    let (esr, far, elr): (u64, u64, u64);
    // SAFETY: reading EL1 syndrome registers has no side effects.
    unsafe { asm!("mrs {}, esr_el1", "mrs {}, far_el1", "mrs {}, elr_el1", out(reg) esr, out(reg) far, out(reg) elr) };
    // Synchronous exception from the current EL (vectors 4..8), data or instruction abort.
    let ec = esr >> 26;
    if kind == 4 && (ec == 0x25 || ec == 0x21) {
        if let Some(fixup) = crate::probe::catch(esr, far) {
            // SAFETY: eret resumes at the probe's fixup, in the probe's own frame.
            unsafe { asm!("msr elr_el1, {}", in(reg) fixup) };
            return;
        }
    }
    println!("archmm-kernel: exception (vector {kind}): ESR_EL1 {esr:#x} FAR_EL1 {far:#x} ELR_EL1 {elr:#x}");
    exit(false)
}

extern "C" {
    fn aarch64_probe_read(va: u64) -> u64;
    fn aarch64_probe_write(va: u64) -> u64;
    fn aarch64_probe_exec(va: u64) -> u64;
    fn aarch64_probe_fixup();
    fn aarch64_probe_fixup_exec();
    fn aarch64_ret();
}

/// The protection probes (the image mapping, read-only and no-execute are enforced here).
pub const PROBES: Result<crate::probe::Probes, &str> = Ok(crate::probe::Probes {
    read: aarch64_probe_read,
    write: aarch64_probe_write,
    exec: aarch64_probe_exec,
    fixup: aarch64_probe_fixup,
    fixup_exec: aarch64_probe_fixup_exec,
    text_ret: aarch64_ret,
    ret: &[0xc0, 0x03, 0x5f, 0xd6],
    sync_icache: || {},
});

/// TTBR0's identity table (image and UART), set by paging_init.
static IDENT_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The root whose low entries map the running image: TTBR0's identity table.
pub fn identity_root(_kernel_root: u64) -> u64 {
    IDENT_ROOT.load(core::sync::atomic::Ordering::Relaxed)
}

/// Run `f` with `user_root` in TTBR0 (it must share the identity map of this code).
pub fn with_user_root(user_root: u64, _kernel_root: u64, f: impl FnOnce()) {
    let ident = IDENT_ROOT.load(core::sync::atomic::Ordering::Relaxed);
    // SAFETY: the user root shares the identity entries of this image and UART, so code,
    // stack and console stay mapped; without ASIDs the TLB is flushed on each switch.
    unsafe { asm!("msr ttbr0_el1, {}", "isb", "tlbi vmalle1", "dsb ish", "isb", in(reg) user_root) };
    f();
    // SAFETY: back to the identity table.
    unsafe { asm!("msr ttbr0_el1, {}", "isb", "tlbi vmalle1", "dsb ish", "isb", in(reg) ident) };
}

/// Real TLB maintenance for the kernel half (TTBR1).
pub struct Tlb;
impl TlbFlush for Tlb {
    fn flush_range(&mut self, start: u64, end: u64) {
        // SAFETY: barriers and TLB invalidation by VA for all ASIDs only drop cached
        // translations.
        unsafe {
            asm!("dsb ishst");
            if end.wrapping_sub(start) > (1 << 30) {
                asm!("tlbi vmalle1is");
            } else {
                let mut va = start;
                while va < end {
                    asm!("tlbi vaae1is, {}", in(reg) (va >> 12) & ((1 << 44) - 1));
                    va = va.wrapping_add(4096);
                }
            }
            asm!("dsb ish", "isb");
        }
    }
}

/// New entries are visible to the table walker once written (Linux's set_pte barrier).
pub fn publish_mappings() {
    // SAFETY: barriers only.
    unsafe { asm!("dsb ishst", "isb") }
}

/// The platform: loads archmm's tables into TTBR0/TTBR1 at paging_init.
#[derive(Debug)]
pub struct Hw;

impl Platform<A, KernelMem> for Hw {
    fn flush_tlb_kernel_range(&mut self, start: u64, end: u64) {
        Tlb.flush_range(start, end);
    }

    fn paging_init(&mut self, ctx: &mut BootCtx<'_, A, KernelMem>) -> Result<(), BootError> {
        let ttbr1 = ctx.pgd.ok_or(BootError::NoMemory)?.0;
        let mem = KernelMem;
        let mut ident =
            PageTable::<Arm64Paging4K48Ttbr0, KernelMem>::new(&mem, &mut ctx.memblock).map_err(BootError::PageTable)?;
        let img = Image::get();
        let mut tlb = FlushLog::default();
        let flags = MapFlags { replace: false, blocks: true };
        for ((s, e), prot) in img.identity_ranges().into_iter().chain([((UART, UART + 4096), Prot::KERNEL_DEVICE)]) {
            ident
                .map(VirtAddr(s), PhysAddr(s), e - s, prot, flags, &mut ctx.memblock, &mut tlb)
                .map_err(BootError::PageTable)?;
        }
        let ttbr0 = ident.root().0;
        IDENT_ROOT.store(ttbr0, core::sync::atomic::Ordering::Relaxed);
        let mut mmfr0: u64;
        // SAFETY: reading an ID register.
        unsafe { asm!("mrs {}, id_aa64mmfr0_el1", out(reg) mmfr0) };
        let ips = (mmfr0 & 7).min(5);
        // T0SZ = T1SZ = 16 (48-bit), inner/outer write-back, inner shareable, TG0 4K,
        // TG1 4K, IPS from the CPU.
        let tcr: u64 = 16
            | (1 << 8)
            | (1 << 10)
            | (3 << 12)
            | (16 << 16)
            | (1 << 24)
            | (1 << 26)
            | (3 << 28)
            | (2 << 30)
            | (ips << 32);
        // SAFETY: the tables map everything this code touches from here on (its image,
        // stack and UART at their physical addresses in TTBR0; all RAM at PAGE_OFFSET in
        // TTBR1), so enabling the MMU continues the same instruction stream.
        unsafe {
            asm!(
                "msr mair_el1, {mair}",
                "msr tcr_el1, {tcr}",
                "msr ttbr0_el1, {t0}",
                "msr ttbr1_el1, {t1}",
                "dsb ish",
                "isb",
                "tlbi vmalle1",
                "dsb ish",
                "isb",
                "mrs {tmp}, sctlr_el1",
                "orr {tmp}, {tmp}, #1",        // M
                "orr {tmp}, {tmp}, #(1 << 2)", // C
                "orr {tmp}, {tmp}, #(1 << 12)", // I
                "msr sctlr_el1, {tmp}",
                "isb",
                mair = in(reg) LINUX_MAIR_EL1,
                tcr = in(reg) tcr,
                t0 = in(reg) ttbr0,
                t1 = in(reg) ttbr1,
                tmp = out(reg) _,
            );
        }
        KernelMem::use_linear_map(ctx.layout.page_offset);
        println!("archmm-kernel: MMU on: TTBR1_EL1 {ttbr1:#x} (linear map), TTBR0_EL1 {ttbr0:#x} (image, UART)");
        Ok(())
    }
}

#[no_mangle]
extern "C" fn aarch64_main() -> ! {
    // QEMU places the device tree at the start of RAM for an ELF kernel.
    let (dt, total) = crate::device_tree_at(RAM_BASE);
    let img = Image::get();
    let fw = dt.firmware_map(Some(img.span), Some((RAM_BASE, RAM_BASE + total)), Image::sections());
    kmain(fw, &mut Hw)
}
