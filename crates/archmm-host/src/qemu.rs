//! Real boots: build a bare-metal kernel from `kernels/` and run it under QEMU.
//!
//! The kernels run archmm's bring-up on the CPU QEMU emulates, with the MMU walking the
//! tables archmm built (see `kernels/src/main.rs`). Each arch's folder says how its kernel
//! is built and booted (the Rust target, the QEMU machine, how the kernel reports its
//! result: [`archmm::machine::QemuModel::BARE_METAL_KERNEL`]); this module runs them, so
//! `archmm qemu --arch ARCH` and the test suite drive them the same way.

use archmm::arch::ArchId;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The line a kernel prints when every self-test passed (kernels/src/main.rs).
pub const PASS_LINE: &str = "archmm-kernel: PASS";

pub use archmm::machine::{BareMetalKernel, MemorySource};

/// The prefix of the lines in which a kernel reports fw_cfg's `etc/memmap`, one entry
/// each: `[mem 0x...-0x...] type N` (kernels/src/loongarch64.rs).
pub const MEMMAP_LINE: &str = "archmm-kernel: fw_cfg etc/memmap: ";

/// Parse the kernel's [`MEMMAP_LINE`] lines into `(base, size, type)`.
pub fn parse_memmap_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Vec<(u64, u64, u32)>, String> {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s}: {e}"));
    let mut out = Vec::new();
    for l in lines {
        let Some(rest) = l.strip_prefix(MEMMAP_LINE) else { continue };
        let bad = || format!("unexpected memmap line: {l}");
        let range = rest.strip_prefix("[mem ").and_then(|r| r.split_once("] type ")).ok_or_else(bad)?;
        let (first, last) = range.0.split_once('-').ok_or_else(bad)?;
        let (first, last) = (hex(first)?, hex(last)?);
        let ty = range.1.trim().parse::<u32>().map_err(|_| bad())?;
        out.push((first, last + 1 - first, ty));
    }
    Ok(out)
}

/// One architecture's kernel: the arch and how its folder says the kernel is built and
/// booted.
#[derive(Clone, Copy, Debug)]
pub struct KernelTarget {
    /// The arch.
    pub arch: ArchId,
    /// Its [`archmm::machine::QemuModel::BARE_METAL_KERNEL`].
    pub kernel: BareMetalKernel,
}

/// The kernels that exist, in the registry's order: each arch's
/// [`archmm::machine::QemuModel::BARE_METAL_KERNEL`] (its folder's `qemu.rs`).
pub fn targets() -> Vec<KernelTarget> {
    archmm::arch::ARCHES.iter().filter_map(|a| KernelTarget::of(a.id)).collect()
}

impl KernelTarget {
    /// The kernel of `arch`, if there is one.
    pub fn of(arch: ArchId) -> Option<KernelTarget> {
        Some(KernelTarget { arch, kernel: arch.info().bare_metal? })
    }

    /// The QEMU command line booting `kernel` with `mem` bytes and `smp` CPUs; console on
    /// stdout, no display, no monitor.
    pub fn command(&self, kernel: &Path, mem: u64, smp: usize) -> Command {
        let mut c = Command::new(self.kernel.qemu);
        c.args(self.kernel.machine)
            .args(["-m", &format!("{}M", mem >> 20), "-smp", &smp.max(1).to_string()])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
            .args(self.kernel.exit_device)
            .arg("-kernel")
            .arg(kernel);
        c
    }

    /// Ask QEMU for the device tree it would give the kernel (`-machine dumpdtb=`); `None`
    /// for arches whose memory map does not come from a device tree.
    ///
    /// # Errors
    /// QEMU's failure.
    pub fn dump_dtb(&self, mem: u64, smp: usize, out: &Path) -> Result<Option<Vec<u8>>, String> {
        if self.kernel.memory != MemorySource::DeviceTree {
            return Ok(None);
        }
        let mut args: Vec<String> = self.kernel.machine.iter().map(|s| s.to_string()).collect();
        let m = args.iter().position(|a| a == "-M").map(|i| i + 1).ok_or("no -M")?;
        args[m] = format!("{},dumpdtb={}", args[m], out.display());
        let st = Command::new(self.kernel.qemu)
            .args(&args)
            .args(["-m", &format!("{}M", mem >> 20), "-smp", &smp.max(1).to_string(), "-display", "none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", self.kernel.qemu))?;
        if !st.success() {
            return Err(format!("{} -machine dumpdtb failed: {st}", self.kernel.qemu));
        }
        std::fs::read(out).map(Some).map_err(|e| format!("{}: {e}", out.display()))
    }
}

/// Where the kernels' sources are: `$ARCHMM_KERNELS`, else `kernels/` of this source tree.
pub fn kernels_dir() -> PathBuf {
    match std::env::var_os("ARCHMM_KERNELS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels"),
    }
}

/// Whether `prog` can be run (found on PATH).
pub fn have_program(prog: &str) -> bool {
    Command::new(prog).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Build the kernel for `t` (release) and return its path. Cargo's output goes to stderr.
///
/// # Errors
/// Cargo's failure, with a hint when the rustup target is missing.
pub fn build_kernel(t: &KernelTarget) -> Result<PathBuf, String> {
    let dir = kernels_dir();
    let target_dir = dir.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(&dir).args(["build", "--release", "--target", t.kernel.rust_target, "--target-dir"]).arg(&target_dir);
    if t.kernel.build_std {
        c.args(["-Z", "build-std=core,compiler_builtins", "-Z", "build-std-features=compiler-builtins-mem"])
            .env("RUSTC_BOOTSTRAP", "1");
    }
    // What an outer cargo (tests, `cargo run`) exports must not leak into a bare-metal build.
    for v in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        c.env_remove(v);
    }
    let out = c.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if t.kernel.build_std && err.contains("rust-src") {
            "\nhint: rustup component add rust-src".to_string()
        } else if err.contains("target may not be installed") || err.contains("can't find crate for `core`") {
            format!("\nhint: rustup target add {}", t.kernel.rust_target)
        } else {
            String::new()
        };
        return Err(format!("building the {} kernel failed:\n{err}{hint}", t.arch.info().name));
    }
    Ok(target_dir.join(t.kernel.rust_target).join("release/archmm-kernel"))
}

/// What a boot under QEMU produced.
#[derive(Clone, Debug, Default)]
pub struct QemuOutcome {
    /// The console, line by line (without `\r`).
    pub console: Vec<String>,
    /// QEMU's exit status (`None`: killed by the timeout or a signal).
    pub status: Option<i32>,
    /// The timeout killed QEMU.
    pub timed_out: bool,
    /// The kernel printed its pass line and QEMU exited with the arch's pass status.
    pub passed: bool,
}

/// Boot `kernel` for `t`, calling `on_line` for every console line as it arrives; kill
/// QEMU after `timeout`.
///
/// # Errors
/// QEMU could not be started, or `mem` is below the machine's minimum.
pub fn boot(
    t: &KernelTarget,
    kernel: &Path,
    mem: u64,
    smp: usize,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<QemuOutcome, String> {
    if mem < t.kernel.min_mem {
        return Err(format!("{} needs at least {} MiB of memory (-m)", t.kernel.qemu, t.kernel.min_mem >> 20));
    }
    let mut child = t
        .command(kernel, mem, smp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e} (install it: apt-get install --no-install-recommends qemu-system-x86 qemu-system-arm qemu-system-misc)", t.kernel.qemu))?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let tx2 = tx.clone();
    let readers = [
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                let s = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                if tx.send(s).is_err() {
                    break;
                }
            }
        }),
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx2.send(format!("qemu: {line}")).is_err() {
                    break;
                }
            }
        }),
    ];
    let deadline = Instant::now() + timeout;
    let mut out = QemuOutcome::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                on_line(&line);
                out.console.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                out.timed_out = true;
                let _ = child.kill();
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    for r in readers {
        let _ = r.join();
    }
    // Lines that arrived between the timeout and the kill.
    while let Ok(line) = rx.try_recv() {
        on_line(&line);
        out.console.push(line);
    }
    out.status = status.code();
    out.passed =
        !out.timed_out && out.status == Some(t.kernel.pass_status) && out.console.iter().any(|l| l == PASS_LINE);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memmap_lines_parse() {
        let lines = [
            "archmm-kernel: loongarch64 on QEMU",
            "archmm-kernel: fw_cfg etc/memmap: [mem 0x0000000000000000-0x000000000fffffff] type 1",
            "archmm-kernel: fw_cfg etc/memmap: [mem 0x0000000090000000-0x00000000bfffffff] type 1",
        ];
        assert_eq!(parse_memmap_lines(lines).unwrap(), [(0, 0x1000_0000, 1), (0x9000_0000, 0x3000_0000, 1)]);
        assert!(parse_memmap_lines(["archmm-kernel: fw_cfg etc/memmap: [mem 0x0-] type 1"]).is_err());
    }

    #[test]
    fn loongarch_needs_its_own_core_and_a_gigabyte() {
        let t = KernelTarget::of(ArchId::Loongarch64).unwrap();
        assert!(t.kernel.build_std && t.kernel.min_mem == 1 << 30 && t.kernel.memory == MemorySource::FwCfgMemmap);
        // Its DT has no memory: no dumpdtb run at all.
        assert_eq!(t.dump_dtb(1 << 30, 1, Path::new("/nonexistent/x.dtb")), Ok(None));
        let e = boot(&t, Path::new("/nonexistent"), 512 << 20, 1, Duration::from_secs(1), |_| {}).unwrap_err();
        assert!(e.contains("at least 1024 MiB"), "{e}");
    }
}
