//! loongarch64 on QEMU 7.2 `-M virt`, booted directly from the ELF (no firmware).
//!
//! QEMU loads each segment at `p_paddr & 0x1fff_ffff` and starts every vCPU at the ELF
//! entry with nothing in the registers, in direct-address mode (CRMD.DA=1, PG=0). The
//! entry code parks the secondaries, sets up the direct-mapping windows as Linux's head.S
//! does (DMW0 = 0x8000_... uncached for devices, DMW1 = 0x9000_... cached: archmm's linear
//! map, [`archmm::arch::loongarch64::PAGE_OFFSET`]) and turns paging on; the kernel is
//! linked in DMW1 at 0x9000_0000_0020_0000 (physical 2 MiB, above the device tree QEMU
//! puts at 1 MiB).
//!
//! QEMU 7.2's device tree has no /memory node: RAM comes from the fw_cfg file
//! `etc/memmap`. paging_init loads archmm's kernel table into PGDL and PGDH and sets up
//! the TLB refill handler (Linux's handle_tlb_refill for 3 levels: LDDIR/LDPTE walk the
//! table with the geometry of PWCL/PWCH), so every address outside the DMW windows is
//! translated from archmm's tables. Pages are 16 KiB: QEMU 7.2's softmmu works in 16 KiB
//! units (TARGET_PAGE_BITS 14) and mistranslates 4 KiB pages.
//!
//! Exit: the ACPI GED sleep register powers off (QEMU exits 0); a failure writes
//! PVPANIC_PANICKED to the pvpanic-pci device, which `-action panic=exit-failure` turns
//! into exit status 1.

use crate::kmem::KernelMem;
use crate::{kmain, println, Image};
use archmm::arch::loongarch64::{Loongarch64, PAGE_OFFSET};
use archmm::arch::Arch;
use archmm::boot::{BootCtx, BootError, FirmwareMap, MemBank, Platform};
use archmm::pgtable::{PageTable, PagingMode, TlbFlush};
use core::arch::{asm, global_asm};
use core::ptr::{read_volatile, write_volatile};

/// The arch the kernel boots.
pub type A = Loongarch64;
/// Its kernel paging mode (16K pages, 3 levels, Linux's default).
pub type Paging = <A as Arch>::Paging;
/// Linux's name.
pub const NAME: &str = "loongarch64";
/// A page-mapped kernel virtual address for the mapping test. archmm's 3-level tree
/// indexes VA bits 46..0 and the kernel loads it into both PGDL and PGDH; the engine maps
/// the low half, so the test range sits there, far from anything else.
pub const TEST_VA: u64 = 0x0000_4000_0000_0000;

/// The uncached direct-mapping window (DMW0): devices.
const UNCACHED: u64 = 0x8000_0000_0000_0000;
/// Physical address bits (PALEN 48).
const PA_MASK: u64 = (1 << 48) - 1;

/// ns16550 console (regshift 0): THR at +0, LSR at +5.
const UART: u64 = 0x1fe0_01e0;
/// fw_cfg MMIO: data at +0, selector at +8 (16-bit, big-endian).
const FW_CFG: u64 = 0x1e02_0000;
/// The ACPI GED sleep control register (VIRT_GED_REG_ADDR): 0x34 = SLP_EN | SLP_TYP 5.
const GED_SLEEP: u64 = 0x100e_001c;
/// PCI ECAM and the start of the PCI MMIO window (PCI address = CPU physical address).
const PCI_ECAM: u64 = 0x2000_0000;
const PCI_MMIO: u64 = 0x4000_0000;
/// Where QEMU puts the flattened device tree.
const FDT: u64 = 0x10_0000;

/// The device's address in the uncached window.
fn io(pa: u64) -> u64 {
    UNCACHED | pa
}

/// The physical address of a kernel symbol (linked in DMW1).
fn pa_of(va: u64) -> u64 {
    va & PA_MASK
}

// CSR numbers (LoongArch Reference Manual, Volume 1, chapter 7).
const CSR_CRMD: u32 = 0x0;
const CSR_ESTAT: u32 = 0x5;
const CSR_ERA: u32 = 0x6;
const CSR_BADV: u32 = 0x7;
const CSR_BADI: u32 = 0x8;
const CSR_TLBREHI: u32 = 0x8e;
const CSR_ASID: u32 = 0x18;
const CSR_PGDL: u32 = 0x19;
const CSR_PGDH: u32 = 0x1a;
const CSR_PWCL: u32 = 0x1c;
const CSR_PWCH: u32 = 0x1d;
const CSR_STLBPS: u32 = 0x1e;
const CSR_TLBRENTRY: u32 = 0x88;

/// Read a CSR (`$csr` a constant). Expands to an `asm!` the caller wraps in `unsafe`.
macro_rules! csrrd {
    ($csr:expr) => {{
        let v: u64;
        asm!("csrrd {0}, {1}", out(reg) v, const $csr, options(nostack));
        v
    }};
}

/// Write a CSR (`$csr` a constant). Expands to an `asm!` the caller wraps in `unsafe`.
macro_rules! csrwr {
    ($csr:expr, $val:expr) => {{
        let v: u64 = $val;
        asm!("csrwr {0}, {1}", inout(reg) v => _, const $csr, options(nostack));
    }};
}

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    csrrd   $t0, 0x20               // CPUID: QEMU starts every vCPU here; park the others
    bnez    $t0, 9f
    li.d    $t0, 0x8000000000000001 // DMW0: VSEG 8, MAT SUC, PLV0 (devices)
    csrwr   $t0, 0x180
    li.d    $t0, 0x9000000000000011 // DMW1: VSEG 9, MAT CC, PLV0 (RAM, the linear map)
    csrwr   $t0, 0x181
    li.w    $t0, 0xb0               // CRMD: PLV0, IE=0, DA=0, PG=1, DATF=DATM=CC
    csrwr   $t0, 0x0
    csrwr   $zero, 0x1              // PRMD
    csrwr   $zero, 0x2              // EUEN: FP off (a soft-float build)
    csrwr   $zero, 0x4              // ECFG: VS=0, every exception at EENTRY
    la.pcrel $t0, loongarch_trap_entry
    csrwr   $t0, 0xc                // EENTRY (a DMW1 address: exceptions keep PG=1)
    la.pcrel $t0, __bss_start
    la.pcrel $t1, __bss_end
1:  bgeu    $t0, $t1, 2f
    st.d    $zero, $t0, 0
    addi.d  $t0, $t0, 8
    b       1b
2:  la.pcrel $sp, {stack}
    li.d    $t0, {stack_size}
    add.d   $sp, $sp, $t0
    move    $fp, $zero
    bl      loongarch_main
9:  idle    0
    b       9b

    // Every exception (ECFG.VS = 0). Nothing here is expected: report and fail.
    .balign 4096
loongarch_trap_entry:
    bl      loongarch_trap

    // TLB refill (TLBRENTRY holds its physical address; it runs with DA=1, PG=0).
    // Linux's handle_tlb_refill for 3 levels: CSR.PGD is PGDL or PGDH by the faulting
    // address, LDDIR 3 reads the PGD entry (PWCH dir3), LDDIR 1 the PMD entry (PWCL dir1;
    // a HUGE entry is passed on as is), LDPTE loads the even/odd pair. archmm's empty
    // directory entry is 0, not a pointer to an invalid table as in Linux: then install
    // an invalid pair (with the base page size), and the retried access raises a
    // page-invalid exception at EENTRY.
    .balign 4096
loongarch_tlb_refill:
    csrwr   $t0, 0x8b               // TLBRSAVE
    csrrd   $t0, 0x1b               // PGD
    lddir   $t0, $t0, 3
    beqz    $t0, 1f
    lddir   $t0, $t0, 1
    beqz    $t0, 1f
    ldpte   $t0, 0
    ldpte   $t0, 1
    tlbfill
    csrrd   $t0, 0x8b
    ertn
1:  csrwr   $zero, 0x8c             // TLBRELO0
    csrwr   $zero, 0x8d             // TLBRELO1
    csrrd   $t0, 0x8e               // TLBREHI.PS = the base page size
    bstrins.d $t0, $zero, 5, 0
    ori     $t0, $t0, {page_shift}
    csrwr   $t0, 0x8e
    tlbfill
    csrrd   $t0, 0x8b
    ertn
"#,
    stack = sym crate::BOOT_STACK,
    stack_size = const crate::STACK_SIZE,
    page_shift = const A::PAGE_SHIFT,
);

extern "C" {
    static loongarch_tlb_refill: u8;
}

/// Write one byte to the ns16550 once it can take one.
pub fn putc(b: u8) {
    let uart = io(UART) as *mut u8;
    // SAFETY: the UART's registers, reached through DMW0 (set up at entry); LSR reads and
    // THR writes have no effect beyond the console.
    unsafe {
        while read_volatile(uart.add(5)) & 0x20 == 0 {}
        write_volatile(uart, b);
    }
}

fn halt() -> ! {
    loop {
        // SAFETY: waiting for an interrupt (none is enabled) has no other effect.
        unsafe { asm!("idle 0") };
    }
}

/// Leave QEMU: power off through the GED (status 0) on success; on failure tell the
/// pvpanic-pci device the guest panicked (status 1 with `-action panic=exit-failure`).
pub fn exit(pass: bool) -> ! {
    if pass {
        // SAFETY: the GED's sleep register through DMW0; this write powers the machine off.
        unsafe { write_volatile(io(GED_SLEEP) as *mut u8, 0x34) };
        halt()
    }
    let cfg = |dev: u64, off: u64| io(PCI_ECAM + (dev << 15) + off) as *mut u32;
    for dev in 0..32 {
        // SAFETY: ECAM configuration reads of bus 0 through DMW0.
        if unsafe { read_volatile(cfg(dev, 0)) } == 0x0011_1b36 {
            // SAFETY: the pvpanic device's BAR0 gets the start of the PCI MMIO window
            // (nothing else is programmed there), memory decoding is enabled, and the
            // byte written there is PVPANIC_PANICKED, which ends the machine.
            unsafe {
                write_volatile(cfg(dev, 0x10), PCI_MMIO as u32);
                write_volatile(cfg(dev, 4), read_volatile(cfg(dev, 4)) | 2);
                write_volatile(io(PCI_MMIO) as *mut u8, 1);
            }
            halt()
        }
    }
    println!("archmm-kernel: no pvpanic-pci device to report the failure (-device pvpanic-pci); halting");
    halt()
}

#[no_mangle]
extern "C" fn loongarch_trap() -> ! {
    // SAFETY: reading the exception CSRs has no side effects.
    let (estat, era, badv, badi) = unsafe { (csrrd!(CSR_ESTAT), csrrd!(CSR_ERA), csrrd!(CSR_BADV), csrrd!(CSR_BADI)) };
    println!(
        "archmm-kernel: exception: ESTAT {estat:#x} (ecode {:#x}) ERA {era:#x} BADV {badv:#x} BADI {badi:#010x}",
        (estat >> 16) & 0x3f
    );
    exit(false)
}

/// Real TLB maintenance: INVTLB op 6 (global or ASID 0, matching VA) per page, or the
/// whole TLB for large ranges. A DBAR first orders the table writes before later walks.
pub struct Tlb;
impl TlbFlush for Tlb {
    fn flush_range(&mut self, start: u64, end: u64) {
        let psz = A::page_size();
        // SAFETY: DBAR orders memory accesses; INVTLB only drops TLB entries.
        unsafe {
            asm!("dbar 0");
            if end.wrapping_sub(start) > 64 * psz {
                asm!("invtlb 0, $zero, $zero");
            } else {
                let mut va = start & !(psz - 1);
                while va < end {
                    asm!("invtlb 6, $zero, {}", in(reg) va);
                    va += psz;
                }
            }
        }
    }
}

/// New entries become visible once the TLB holds no stale entry for them: the refill
/// handler installs invalid entries for unmapped addresses, so drop everything.
pub fn publish_mappings() {
    // SAFETY: as in `Tlb`.
    unsafe { asm!("dbar 0", "invtlb 0, $zero, $zero") }
}

/// Why the protection probes do not apply: Linux 6.1 on LoongArch has no strict kernel
/// RWX (the kernel and its linear map run from the DMW1 window, which page permissions do
/// not cover), and QEMU 7.2's walker drops the NR/NX bits.
pub const PROBES: Result<crate::probe::Probes, &str> = Err(
    "LoongArch runs the kernel from the DMW1 window (no strict kernel RWX in Linux 6.1), and QEMU 7.2 ignores NX/NR",
);

/// The root holding whatever low mappings the running kernel needs: none here (it runs
/// from DMW1), so the kernel table.
pub fn identity_root(kernel_root: u64) -> u64 {
    kernel_root
}

/// Run `f` with `user_root` in PGDL (user addresses; the kernel keeps PGDH and DMW1).
pub fn with_user_root(user_root: u64, kernel_root: u64, f: impl FnOnce()) {
    // SAFETY: only the low-half root changes; this code, its stack and the console are in
    // the DMW windows; the TLB drops the old low-half translations.
    unsafe {
        csrwr!(CSR_PGDL, user_root);
        asm!("dbar 0", "invtlb 0, $zero, $zero");
    }
    f();
    // SAFETY: back to the kernel table in PGDL.
    unsafe {
        csrwr!(CSR_PGDL, kernel_root);
        asm!("dbar 0", "invtlb 0, $zero, $zero");
    }
}

/// The platform: loads archmm's table into the refill walker at paging_init.
#[derive(Debug)]
pub struct Hw;

impl Platform<A, KernelMem> for Hw {
    fn flush_tlb_kernel_range(&mut self, start: u64, end: u64) {
        Tlb.flush_range(start, end);
    }

    fn paging_init(&mut self, ctx: &mut BootCtx<'_, A, KernelMem>) -> Result<(), BootError> {
        // The linear map is DMW1, so setup_arch mapped nothing; the kernel table
        // (Linux's swapper_pg_dir) still has to exist for everything else.
        let root = match ctx.pgd {
            Some(root) => root,
            None => {
                let mem = *ctx.memblock.mem();
                let root =
                    PageTable::<Paging, KernelMem>::new(&mem, &mut ctx.memblock).map_err(BootError::PageTable)?.root();
                ctx.pgd = Some(root);
                root
            }
        }
        .0;
        const _: () = assert!(Paging::LEVELS.len() == 3, "the refill handler walks 3 levels");
        let [pgd, pmd, pte] = [0, 1, 2].map(|i| Paging::LEVELS[i]);
        let pwcl = pte.shift as u64 | (pte.bits as u64) << 5 | (pmd.shift as u64) << 10 | (pmd.bits as u64) << 15;
        let pwch = pgd.shift as u64 | (pgd.bits as u64) << 6;
        let refill = pa_of(core::ptr::addr_of!(loongarch_tlb_refill) as u64);
        // SAFETY: the refill handler, its walker geometry and the roots are set before the
        // TLB is emptied; the kernel runs in DMW0/DMW1, which no TLB entry affects, so
        // nothing it uses stops translating. Both roots are archmm's table: its tree
        // indexes VA bits 46..0 as the walker does.
        unsafe {
            csrwr!(CSR_TLBRENTRY, refill);
            csrwr!(CSR_PWCL, pwcl);
            csrwr!(CSR_PWCH, pwch);
            csrwr!(CSR_STLBPS, A::PAGE_SHIFT as u64);
            csrwr!(CSR_TLBREHI, A::PAGE_SHIFT as u64);
            csrwr!(CSR_ASID, 0);
            csrwr!(CSR_PGDL, root);
            csrwr!(CSR_PGDH, root);
            asm!("dbar 0", "invtlb 0, $zero, $zero");
        }
        // SAFETY: reading CSRs has no side effects.
        let crmd = unsafe { csrrd!(CSR_CRMD) };
        println!("archmm-kernel: PGDL = PGDH = {root:#x}, PWCL {pwcl:#x} PWCH {pwch:#x} STLBPS {}, refill handler at {refill:#x}, CRMD {crmd:#x}", A::PAGE_SHIFT);
        Ok(())
    }
}

/// fw_cfg item keys.
const FW_CFG_SIGNATURE: u16 = 0x00;
const FW_CFG_FILE_DIR: u16 = 0x19;

fn fw_cfg_select(key: u16) {
    // SAFETY: the selector register through DMW0; it takes 16-bit big-endian writes.
    unsafe { write_volatile(io(FW_CFG + 8) as *mut u16, key.to_be()) }
}

fn fw_cfg_read(buf: &mut [u8]) {
    for b in buf {
        // SAFETY: a byte read of the data register through DMW0 (advances the item).
        *b = unsafe { read_volatile(io(FW_CFG) as *const u8) };
    }
}

/// The selector and size of the fw_cfg file `name`.
fn fw_cfg_file(name: &[u8]) -> Option<(u16, u32)> {
    fw_cfg_select(FW_CFG_FILE_DIR);
    let mut count = [0u8; 4];
    fw_cfg_read(&mut count);
    let mut found = None;
    // Read the whole directory (a stream), remembering the match.
    for _ in 0..u32::from_be_bytes(count) {
        let mut e = [0u8; 64];
        fw_cfg_read(&mut e);
        let n = &e[8..];
        let len = n.iter().position(|&c| c == 0).unwrap_or(n.len());
        if &n[..len] == name {
            found = Some((u16::from_be_bytes([e[4], e[5]]), u32::from_be_bytes([e[0], e[1], e[2], e[3]])));
        }
    }
    found
}

/// The prefix of the lines that report `etc/memmap` (tests/qemu_boots.rs parses them).
const MEMMAP_LINE: &str = "archmm-kernel: fw_cfg etc/memmap:";
/// memmap entries kept.
const MAX_BANKS: usize = 16;
static mut BANKS: [MemBank; MAX_BANKS] = [MemBank { base: 0, size: 0, nid: None, hotplug: false }; MAX_BANKS];

/// The RAM entries (type 1) of `etc/memmap`: `{le64 address; le64 length; le32 type; le32 reserved}`.
fn memmap(banks: &mut [MemBank; MAX_BANKS]) -> Result<usize, &'static str> {
    let mut sig = [0u8; 4];
    fw_cfg_select(FW_CFG_SIGNATURE);
    fw_cfg_read(&mut sig);
    if &sig != b"QEMU" {
        return Err("no fw_cfg device");
    }
    let (sel, size) = fw_cfg_file(b"etc/memmap").ok_or("fw_cfg has no etc/memmap")?;
    fw_cfg_select(sel);
    let mut n = 0;
    for _ in 0..size / 24 {
        let mut e = [0u8; 24];
        fw_cfg_read(&mut e);
        let le64 = |b: &[u8]| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let (base, len, ty) = (le64(&e[0..8]), le64(&e[8..16]), u32::from_le_bytes([e[16], e[17], e[18], e[19]]));
        println!("{MEMMAP_LINE} [mem {base:#018x}-{:#018x}] type {ty}", base + len.max(1) - 1);
        if ty == 1 && len != 0 {
            let slot = banks.get_mut(n).ok_or("etc/memmap has too many RAM entries")?;
            *slot = MemBank { base, size: len, nid: None, hotplug: false };
            n += 1;
        }
    }
    Ok(n)
}

#[no_mangle]
extern "C" fn loongarch_main() -> ! {
    // DMW1 is archmm's linear map, live from the entry code on.
    KernelMem::use_linear_map(PAGE_OFFSET);
    // SAFETY: the only reference to BANKS ever taken, on the boot CPU.
    let banks = unsafe { &mut *core::ptr::addr_of_mut!(BANKS) };
    let n = match memmap(banks) {
        Ok(n) => n,
        Err(e) => {
            println!("archmm-kernel: {e}");
            exit(false)
        }
    };
    // SAFETY: the device tree's header at PA 1 MiB, in RAM reached through DMW1.
    let header = unsafe { read_volatile((PAGE_OFFSET | FDT) as *const [u32; 2]) };
    let (magic, total) = (u32::from_be(header[0]), u32::from_be(header[1]) as u64);
    let dtb = if magic == 0xd00d_feed { Some((FDT, FDT + total)) } else { None };
    println!(
        "archmm-kernel: device tree at {FDT:#x} ({}), memory from fw_cfg",
        if dtb.is_some() { "found" } else { "missing" }
    );
    let img = Image::get();
    let fw = FirmwareMap {
        banks: &banks[..n],
        kernel: Some((pa_of(img.span.0), pa_of(img.span.1))),
        dtb,
        sections: Image::sections(),
        ..Default::default()
    };
    kmain(fw, &mut Hw)
}
