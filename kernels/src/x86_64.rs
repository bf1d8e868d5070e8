//! x86_64 on QEMU `pc` through the PVH boot protocol: QEMU's `-kernel` finds the
//! XEN_ELFNOTE_PHYS32_ENTRY note and enters `_start` in 32-bit protected mode, paging off,
//! with `ebx` pointing at `hvm_start_info`, whose memory map holds the e820 entries. The
//! entry code identity-maps the first 64 GiB with 2 MiB pages and enters long mode;
//! console on COM1; exit through isa-debug-exit (`-device isa-debug-exit,iobase=0xf4`).
//!
//! paging_init adds the running image to archmm's kernel table at its physical addresses
//! and loads CR3: from then on the CPU walks archmm's 4-level table.

use crate::kmem::KernelMem;
use crate::{kmain, println, Image};
use archmm::arch::x86_64::X86_64;
use archmm::arch::Arch;
use archmm::boot::{BootCtx, BootError, Platform};
use archmm::firmware::e820::pvh::{
    parse_memmap, parse_start_info, pvh_e820_table, MEMMAP_ENTRY_SIZE, START_INFO_V1_SIZE,
};
use archmm::firmware::e820::E820Table;
use archmm::pgtable::TlbFlush;
use core::arch::{asm, global_asm};

/// The arch the kernel boots.
pub type A = X86_64;
/// Its kernel paging mode.
pub type Paging = <A as Arch>::Paging;
/// Linux's name.
pub const NAME: &str = "x86_64";
/// A kernel virtual address outside the linear map for the mapping test (Linux's vmalloc
/// area with 4-level paging starts at 0xffffc90000000000).
pub const TEST_VA: u64 = 0xffff_c900_1000_0000;

/// isa-debug-exit's port; QEMU exits with `(value << 1) | 1`.
const DEBUG_EXIT: u16 = 0xf4;
/// What the kernel writes there: QEMU then exits with 33 (pass) or 35 (fail).
pub const EXIT_PASS: u32 = 0x10;
const EXIT_FAIL: u32 = 0x11;
const COM1: u16 = 0x3f8;

global_asm!(
    r#"
    .section .note.Xen, "a"
    .balign 4
    .long 4                     /* namesz */
    .long 4                     /* descsz */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .long _start
    .balign 4

    .section .bss.boot_pt, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 64 * 4096

    .section .data.boot_gdt, "aw"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .quad boot_gdt

    .section .text.boot, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov %ebx, %esi              /* hvm_start_info */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    mov $boot_pdpt + 3, %eax
    mov %eax, boot_pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $boot_pd + 3, %eax
    mov %eax, boot_pdpt(,%ecx,8)
    inc %ecx
    cmp $64, %ecx
    jb 1b
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax              /* present, writable, 2 MiB */
    mov %eax, boot_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax
    mov %eax, boot_pd + 4(,%ecx,8)
    inc %ecx
    cmp $64 * 512, %ecx
    jb 2b
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $0xc0000080, %ecx       /* EFER */
    rdmsr
    or $0x900, %eax             /* LME, NXE (archmm's linear map is no-execute) */
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax        /* PG, WP, PE */
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $3f

    .code64
3:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    lea {stack}(%rip), %rsp
    add ${stack_size}, %rsp
    mov %esi, %edi
    call x86_main
4:  hlt
    jmp 4b

    .irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
x86_isr\v:
    push $0
    push $\v
    jmp x86_isr_common
    .endr
    .irp v, 8,10,11,12,13,14,17,21,29,30
x86_isr\v:
    push $\v
    jmp x86_isr_common
    .endr
x86_isr_common:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    lea 80(%rsp), %rdi          /* -> vector, error code, RIP, CS, RFLAGS, RSP, SS */
    mov %rsp, %rbx
    and $-16, %rsp
    call x86_trap               /* returns only for a probe's expected fault */
    mov %rbx, %rsp
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    add $16, %rsp
    iretq

    /* Probes (rdi = address): 0 if the access completed, 1 if it faulted. */
    .global x86_probe_read
x86_probe_read:
    mov (%rdi), %rax
    ret
    .global x86_probe_write
x86_probe_write:
    movb $0x5a, (%rdi)
    xor %eax, %eax
    ret
    .global x86_probe_exec
x86_probe_exec:
    call *%rdi
    xor %eax, %eax
    ret
    .global x86_probe_fixup
x86_probe_fixup:
    mov $1, %eax
    ret
    .global x86_probe_fixup_exec
x86_probe_fixup_exec:
    add $8, %rsp                /* the return address `call *%rdi` pushed */
    mov $1, %eax
    ret
    .global x86_ret
x86_ret:
    ret

    .section .rodata.x86_isrs, "a"
    .balign 8
    .global x86_isr_table
x86_isr_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad x86_isr\v
    .endr
"#,
    stack = sym crate::BOOT_STACK,
    stack_size = const crate::STACK_SIZE,
    options(att_syntax)
);

fn outb(port: u16, v: u8) {
    // SAFETY: port I/O to the UART or the exit device has no memory effects.
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack)) }
}

fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: reading the UART's line status register.
    unsafe { asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack)) };
    v
}

/// Write one byte to COM1.
pub fn putc(b: u8) {
    while inb(COM1 + 5) & 0x20 == 0 {}
    outb(COM1, b);
}

/// Leave QEMU through isa-debug-exit: status 33 on success, 35 on failure.
pub fn exit(pass: bool) -> ! {
    let v = if pass { EXIT_PASS } else { EXIT_FAIL };
    // SAFETY: writing isa-debug-exit's port ends the machine.
    unsafe { asm!("out dx, eax", in("dx") DEBUG_EXIT, in("eax") v, options(nomem, nostack)) };
    loop {
        // SAFETY: halting with interrupts off only stops this CPU (if QEMU has no exit
        // device, the harness's timeout reports it).
        unsafe { asm!("cli; hlt") };
    }
}

#[no_mangle]
extern "C" fn x86_trap(frame: *mut u64) {
    // SAFETY: `frame` points at what the stub and the CPU pushed: vector, error code, RIP.
    let (vector, error, rip) = unsafe { (*frame, *frame.add(1), *frame.add(2)) };
    let cr2: u64;
    // SAFETY: reading CR2.
    unsafe { asm!("mov {}, cr2", out(reg) cr2) };
    if vector == 14 {
        if let Some(fixup) = crate::probe::catch(error, cr2) {
            // SAFETY: the saved RIP slot of this very frame; iretq resumes at the fixup.
            unsafe { *frame.add(2) = fixup };
            return;
        }
    }
    println!("archmm-kernel: exception {vector} error {error:#x} at RIP {rip:#x}, CR2 {cr2:#x}");
    exit(false)
}

extern "C" {
    fn x86_probe_read(va: u64) -> u64;
    fn x86_probe_write(va: u64) -> u64;
    fn x86_probe_exec(va: u64) -> u64;
    fn x86_probe_fixup();
    fn x86_probe_fixup_exec();
    fn x86_ret();
}

/// The protection probes (the image mapping, read-only and no-execute are enforced here).
pub const PROBES: Result<crate::probe::Probes, &str> = Ok(crate::probe::Probes {
    read: x86_probe_read,
    write: x86_probe_write,
    exec: x86_probe_exec,
    fixup: x86_probe_fixup,
    fixup_exec: x86_probe_fixup_exec,
    text_ret: x86_ret,
    ret: &[0xc3],
    sync_icache: || {},
});

/// The root whose low entries map the running image (the kernel table: its identity
/// mappings live in the low half).
pub fn identity_root(kernel_root: u64) -> u64 {
    kernel_root
}

/// Run `f` with `user_root` in CR3 (it must share the identity map of this code).
pub fn with_user_root(user_root: u64, kernel_root: u64, f: impl FnOnce()) {
    // SAFETY: the user root shares the kernel half and the identity map of this image,
    // so code, stack and data stay mapped; CR3 is restored before returning.
    unsafe { asm!("mov cr3, {}", in(reg) user_root) };
    f();
    // SAFETY: back to the kernel table.
    unsafe { asm!("mov cr3, {}", in(reg) kernel_root) };
}

#[repr(C, packed)]
struct Idtr {
    limit: u16,
    base: u64,
}

static mut IDT: [[u64; 2]; 32] = [[0; 2]; 32];

extern "C" {
    static x86_isr_table: [u64; 32];
}

/// Install handlers for the 32 exception vectors so a fault is reported, not a reset.
fn load_idt() {
    // SAFETY: single CPU before any interrupt is enabled; the IDT is only written here.
    let idt = unsafe { &mut *core::ptr::addr_of_mut!(IDT) };
    // SAFETY: the table is a read-only array of stub addresses defined in global_asm.
    let isrs = unsafe { &*core::ptr::addr_of!(x86_isr_table) };
    for (gate, &h) in idt.iter_mut().zip(isrs.iter()) {
        // 64-bit interrupt gate, present, DPL 0, code selector 0x08.
        gate[0] = (h & 0xffff) | (0x08 << 16) | (0x8e00 << 32) | ((h >> 16) & 0xffff) << 48;
        gate[1] = h >> 32;
    }
    let idtr = Idtr { limit: (32 * 16 - 1) as u16, base: idt.as_ptr() as u64 };
    // SAFETY: the IDT lives in the kernel's bss for the whole run and holds valid gates.
    unsafe { asm!("lidt [{}]", in(reg) &idtr) };
}

/// Real TLB maintenance: invlpg per page, a CR3 reload for large ranges.
pub struct Tlb;
impl TlbFlush for Tlb {
    fn flush_range(&mut self, start: u64, end: u64) {
        // SAFETY: invlpg and reloading CR3 with its own value only drop cached translations.
        unsafe {
            if end.wrapping_sub(start) > (1 << 30) {
                asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _);
            } else {
                let mut va = start;
                while va < end {
                    asm!("invlpg [{}]", in(reg) va);
                    va = va.wrapping_add(4096);
                }
            }
        }
    }
}

/// x86 does not cache not-present entries: new mappings are visible at once.
pub fn publish_mappings() {}

/// The platform: loads archmm's table into CR3 at paging_init.
#[derive(Debug)]
pub struct Hw;

impl Platform<A, KernelMem> for Hw {
    fn flush_tlb_kernel_range(&mut self, start: u64, end: u64) {
        Tlb.flush_range(start, end);
    }

    fn paging_init(&mut self, ctx: &mut BootCtx<'_, A, KernelMem>) -> Result<(), BootError> {
        let img = Image::get();
        for ((s, e), prot) in img.identity_ranges() {
            ctx.map_kernel(s, s, e - s, prot, true)?;
        }
        let root = ctx.pgd.ok_or(BootError::NoMemory)?.0;
        // SAFETY: the table maps this code, its stack, data, GDT and IDT at their physical
        // addresses and all RAM at PAGE_OFFSET, so execution continues across the switch.
        unsafe { asm!("mov cr3, {}", in(reg) root) };
        KernelMem::use_linear_map(ctx.layout.page_offset);
        println!("archmm-kernel: CR3 {root:#x}: archmm's 4-level table is live");
        Ok(())
    }
}

static mut E820: Option<E820Table<128>> = None;

#[no_mangle]
extern "C" fn x86_main(start_info: u32) -> ! {
    load_idt();
    println!("archmm-kernel: PVH entry, hvm_start_info at {start_info:#x}");
    // SAFETY: the structure QEMU's PVH loader placed in low memory (identity-mapped by the
    // boot tables); nothing writes it.
    let si = unsafe { core::slice::from_raw_parts(start_info as usize as *const u8, START_INFO_V1_SIZE) };
    let info = match parse_start_info(si) {
        Ok(i) => i,
        Err(e) => {
            println!("archmm-kernel: bad hvm_start_info: {e}");
            exit(false)
        }
    };
    let Some(mm) = info.memmap else {
        println!("archmm-kernel: hvm_start_info has no memory map");
        exit(false)
    };
    let len = mm.entries as usize * MEMMAP_ENTRY_SIZE;
    // SAFETY: the memory map QEMU wrote next to start_info, `entries` entries long.
    let raw = unsafe { core::slice::from_raw_parts(mm.paddr as usize as *const u8, len) };
    let table = match parse_memmap(raw, mm.entries).and_then(pvh_e820_table::<128>) {
        Ok(t) => t,
        Err(e) => {
            println!("archmm-kernel: bad PVH memory map: {e}");
            exit(false)
        }
    };
    // SAFETY: single CPU, and this is the only reference to E820 ever taken.
    let slot = unsafe { &mut *core::ptr::addr_of_mut!(E820) };
    let table = slot.insert(table);
    let img = Image::get();
    let fw = archmm::boot::FirmwareMap {
        e820: table.entries(),
        kernel: Some(img.span),
        sections: Image::sections(),
        ..Default::default()
    };
    kmain(fw, &mut Hw)
}
