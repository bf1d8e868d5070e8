//! archmm-kernel: a small bare-metal kernel that runs archmm's bring-up on real (emulated)
//! hardware.
//!
//! Each architecture module boots the CPU (entry code, exception vectors, console, exit),
//! reads its firmware's memory description with `archmm-firmware`, and calls [`kmain`].
//! Everything else is the same core library the host emulator runs: memblock, the linear
//! map built with archmm's page-table engine, the memmap, the buddy allocator, the
//! `Memory:` line. The arch module's [`archmm::boot::Platform`] then loads those tables
//! into the MMU, so from `paging_init` on every access the bring-up makes goes through the
//! linear map it built. [`selftest`] then checks the result on real memory and the kernel
//! exits QEMU with a pass or fail status.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

mod console;
mod hotplug_test;
mod kmem;
mod probe;
mod protect_test;
mod selftest;

#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod arch;
#[cfg(target_arch = "riscv64")]
#[path = "riscv64.rs"]
mod arch;
#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod arch;
#[cfg(target_arch = "loongarch64")]
#[path = "loongarch64.rs"]
mod arch;

use archmm::boot::{BootOptions, FirmwareMap, KernelSections};

/// The boot stack's size. The bring-up needs about 330 KiB (its state is returned by
/// value); the rest is headroom. Each arch's entry code points its stack pointer at the top.
pub const STACK_SIZE: usize = 1024 * 1024;

/// The boot stack.
#[repr(C, align(16))]
pub struct Stack([u8; STACK_SIZE]);

/// The size, not the bytes.
impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Stack({} bytes)", self.0.len())
    }
}

/// The boot stack, in .bss (the entry code zeroes it with the bss before using it).
pub static mut BOOT_STACK: Stack = Stack([0; STACK_SIZE]);

/// Bytes of the boot stack ever used: it starts zeroed, so the deepest non-zero byte marks
/// the high-water mark.
pub fn stack_used() -> usize {
    // SAFETY: reads of the stack's lowest, untouched part through a shared view; the live
    // frames above it are not aliased mutably by this loop.
    let s = unsafe { &*core::ptr::addr_of!(BOOT_STACK) };
    STACK_SIZE - s.0.iter().position(|&b| b != 0).unwrap_or(STACK_SIZE)
}

/// The line a harness looks for (`archmm qemu` and the tests): the self-test passed.
pub const PASS_LINE: &str = "archmm-kernel: PASS";

/// The image's layout from the linker script.
#[derive(Debug)]
pub struct Image {
    /// `[start, end)` of the whole image.
    pub span: (u64, u64),
    /// `[start, end)` of text.
    pub text: (u64, u64),
    /// `[start, end)` of read-only data (and notes).
    pub rodata: (u64, u64),
    /// `[start, end)` of data and bss.
    pub data: (u64, u64),
}

extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __rodata_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __kernel_end: u8;
}

impl Image {
    /// The running image (linked at its physical load address).
    pub fn get() -> Image {
        // Only the addresses of these linker-script symbols are taken; they are never read.
        let a = [
            core::ptr::addr_of!(__kernel_start),
            core::ptr::addr_of!(__text_start),
            core::ptr::addr_of!(__text_end),
            core::ptr::addr_of!(__rodata_start),
            core::ptr::addr_of!(__data_start),
            core::ptr::addr_of!(__data_end),
            core::ptr::addr_of!(__bss_start),
            core::ptr::addr_of!(__bss_end),
            core::ptr::addr_of!(__kernel_end),
        ]
        .map(|p| p as u64);
        Image { span: (a[0], a[8]), text: (a[1], a[2]), rodata: (a[3], a[4]), data: (a[4], a[8]) }
    }

    /// Text, rodata and data with the protections the early identity map gives them (what
    /// each arch's paging_init maps at their physical addresses, plus its own device).
    pub fn identity_ranges(&self) -> [((u64, u64), archmm::pgtable::Prot); 3] {
        use archmm::pgtable::Prot;
        [(self.text, Prot::KERNEL_RX), (self.rodata, Prot::KERNEL_RO), (self.data, Prot::KERNEL_RW)]
    }

    /// The section sizes the `Memory:` line reports, from the linker symbols as Linux
    /// takes them.
    pub fn sections() -> KernelSections {
        // Addresses only, as in `get`.
        let [ts, te, rs, re, ds, de, bs, be] = [
            core::ptr::addr_of!(__text_start),
            core::ptr::addr_of!(__text_end),
            core::ptr::addr_of!(__rodata_start),
            core::ptr::addr_of!(__rodata_end),
            core::ptr::addr_of!(__data_start),
            core::ptr::addr_of!(__data_end),
            core::ptr::addr_of!(__bss_start),
            core::ptr::addr_of!(__bss_end),
        ]
        .map(|p| p as u64);
        KernelSections { text: te - ts, rodata: re - rs, rwdata: de - ds, init: 0, bss: be - bs, percpu: 0 }
    }
}

static mut DT: Option<archmm::devicetree::DtFirmware> = None;

/// The device tree blob the boot protocol left at physical `pa` (reachable at that
/// address: MMU off or identity-mapped), scanned once; returns it and the blob's size.
/// A missing or malformed blob ends the run with a failure.
pub fn device_tree_at(pa: u64) -> (&'static archmm::devicetree::DtFirmware, u64) {
    // SAFETY: the first 8 bytes at `pa` are RAM the boot protocol wrote the blob into.
    let header = unsafe { core::slice::from_raw_parts(pa as *const u8, 8) };
    let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if u32::from_be_bytes([header[0], header[1], header[2], header[3]]) != 0xd00d_feed || total > 2 << 20 {
        println!("archmm-kernel: no device tree at {pa:#x}");
        arch::exit(false)
    }
    // SAFETY: `total` bytes of that blob; nothing writes there while it is scanned.
    let blob = unsafe { core::slice::from_raw_parts(pa as *const u8, total) };
    // SAFETY: one CPU runs this, once; no other reference to DT exists.
    let slot = unsafe { &mut *core::ptr::addr_of_mut!(DT) };
    match archmm::devicetree::DtFirmware::from_blob(blob) {
        Ok(dt) => (slot.insert(dt), total as u64),
        Err(e) => {
            println!("archmm-kernel: {e}");
            arch::exit(false)
        }
    }
}

/// The generic kernel: boot, self-test, report. `hw` is the arch's platform.
pub fn kmain(fw: FirmwareMap<'_>, hw: &mut arch::Hw) -> ! {
    println!("archmm-kernel: {} on QEMU, archmm's bring-up on real paging hardware", arch::NAME);
    let mut trimmed = hotplug_test::Storage::new();
    let fw = hotplug_test::hold_back(fw, &mut trimmed);
    for r in fw.reserved {
        println!(
            "archmm-kernel: firmware reserves [mem {:#018x}-{:#018x}]{}",
            r.base,
            r.base + r.size.max(1) - 1,
            if r.nomap { " no-map" } else { "" }
        );
    }
    let options = BootOptions { cpus: 1, ..Default::default() };
    match selftest::run(fw, options, hw) {
        Ok(()) => {
            println!("archmm-kernel: boot stack high-water mark {} KiB", stack_used() >> 10);
            println!("{PASS_LINE}");
            arch::exit(true)
        }
        Err(e) => {
            println!("archmm-kernel: FAIL: {e}");
            arch::exit(false)
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("archmm-kernel: FAIL: panic: {info}");
    arch::exit(false)
}
