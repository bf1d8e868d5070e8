//! The `archmm` command line.
#![forbid(unsafe_code)]

use archmm::arch::{ArchId, FirmwareKind, ARCHES, HOOKS};
use archmm::boot::BootOptions;
use archmm::zone::CoreSize;
use archmm_host::emulator::{run_mode_views, run_walk_views, BootReport, WalkLevel};
use archmm_host::kviews::human;
use archmm_host::machine::Machine;
use archmm_host::script::{parse_num, ScriptRunner};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// archmm: one memory-management bring-up for every architecture.
#[derive(Parser)]
#[command(name = "archmm", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

fn parse_arch(s: &str) -> Result<ArchId, String> {
    ArchId::from_name(s).ok_or_else(|| {
        let names: Vec<String> = ARCHES.iter().map(|a| format!("{} ({})", a.name, a.aliases.join(", "))).collect();
        format!("unknown arch `{s}`; known: {}", names.join(", "))
    })
}

/// An arch, possibly with one of its paging modes.
#[derive(Clone, Copy, Debug)]
struct ArchSel {
    arch: ArchId,
    mode: Option<&'static str>,
}

fn parse_arch_or_mode(s: &str) -> Result<ArchSel, String> {
    if let Ok(arch) = parse_arch(s) {
        return Ok(ArchSel { arch, mode: None });
    }
    match archmm::arch::modes::mode_by_name(s) {
        Some(m) => match ArchId::from_name(m.arch) {
            Some(arch) => Ok(ArchSel { arch, mode: Some(m.name) }),
            None => Err(format!(
                "mode `{s}` belongs to {}, whose bring-up does not run on the host yet (its paging mode is exercised by the test suite)",
                m.arch
            )),
        },
        None => parse_arch(s).map(|arch| ArchSel { arch, mode: None }),
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    parse_num(s).ok_or_else(|| format!("`{s}` is not a size (e.g. 8G, 512M, 0x40000000)"))
}

/// The address space `archmm walk` walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MmSel {
    /// The kernel page table (init_mm).
    Kernel,
    /// The first user address space.
    User,
}

/// The views `archmm boot --show` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum View {
    /// /proc/buddyinfo.
    Buddyinfo,
    /// /proc/zoneinfo (the per-zone block).
    Zoneinfo,
    /// /proc/meminfo (the counters the bring-up defines).
    Meminfo,
    /// /sys/kernel/debug/memblock/{memory,reserved}.
    Memblock,
    /// /proc/iomem's memory resources (System RAM, and the firmware's reserved ranges).
    Iomem,
    /// The kernel page table's mappings (ptdump-like runs) and the W^X check.
    Wx,
    /// The first per-CPU chunk (percpu_stats' allocation info) and each CPU's unit.
    Percpu,
    /// /proc/1/maps of the first user address space: the vDSO and its data pages.
    Maps,
}

impl View {
    fn key(self) -> (&'static str, &'static str) {
        match self {
            View::Buddyinfo => ("buddyinfo", "/proc/buddyinfo"),
            View::Zoneinfo => ("zoneinfo", "/proc/zoneinfo"),
            View::Meminfo => ("meminfo", "/proc/meminfo"),
            View::Memblock => ("memblock", "memblock debugfs"),
            View::Iomem => ("iomem", "/proc/iomem"),
            View::Wx => ("wx", "kernel page table and W^X check"),
            View::Percpu => ("percpu", "/sys/kernel/debug/percpu_stats"),
            View::Maps => ("maps", "/proc/1/maps"),
        }
    }
}

/// Which machine to boot.
#[derive(clap::Args)]
struct MachineArgs {
    /// Architecture (Linux's name; Rust's spelling accepted), or for `walk` a paging mode
    /// of one (see `archmm arches`).
    #[arg(long, value_parser = parse_arch_or_mode, default_value = ARCHES[0].name)]
    arch: ArchSel,
    /// Memory size of the built-in QEMU machine (e.g. 8G, 512M).
    #[arg(long, value_parser = parse_size, default_value = "8G")]
    mem: u64,
    /// Split the built-in machine's memory over N equal NUMA nodes, and its CPUs in order
    /// (QEMU's `-numa node,cpus=0-1 -numa node,cpus=2-3` for `--smp 4 --numa 2`).
    #[arg(long, default_value_t = 1)]
    numa: u32,
    /// QEMU machine type (`-M`) of the built-in machine; each arch has its own (the first
    /// of `archmm arches`' list is QEMU's default for it).
    #[arg(long, alias = "x86-machine", value_name = "TYPE", value_parser = qemu_machine_types())]
    qemu_machine: Option<String>,
    /// An e820 table in Linux's dmesg format (`BIOS-e820: [mem ...] usable` lines,
    /// optional `ACPI: SRAT: Node ...` and `SRAT: PXM ... -> APIC ...` lines; other lines
    /// are ignored).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dtb", "machine", "uefi_memmap"])]
    e820: Option<PathBuf>,
    /// A flattened device tree blob (e.g. from QEMU's `-M virt,dumpdtb=FILE`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["machine", "uefi_memmap"])]
    dtb: Option<PathBuf>,
    /// A UEFI memory map: raw descriptors (see --uefi-desc-size) or Linux's
    /// `efi: mem..` dmesg lines.
    #[arg(long, value_name = "FILE", conflicts_with = "machine")]
    uefi_memmap: Option<PathBuf>,
    /// Descriptor size of a raw UEFI memory map.
    #[arg(long, default_value_t = 48)]
    uefi_desc_size: usize,
    /// A machine description in TOML (banks, nodes, reserved ranges, kernel, initrd).
    #[arg(long, value_name = "FILE.toml")]
    machine: Option<PathBuf>,
    /// Boot with `numa=off`.
    #[arg(long)]
    numa_off: bool,
    /// CPUs (default: as many as the firmware data describes: the device tree's CPU nodes or
    /// the e820 file's `SRAT: PXM ... -> APIC` lines; else 1).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=archmm::percpu::MAX_CPUS as u64))]
    smp: Option<usize>,
    /// `cma=SIZE`: CMA reserved at boot (default: the arch's reference kernel config).
    #[arg(long, value_parser = parse_size)]
    cma: Option<u64>,
    /// `kernelcore=SIZE|N%`: memory for any allocation; the rest of each node's highest
    /// zone becomes ZONE_MOVABLE.
    #[arg(long, value_parser = parse_core)]
    kernelcore: Option<CoreSize>,
    /// `movablecore=SIZE|N%`: memory that must be ZONE_MOVABLE.
    #[arg(long, value_parser = parse_core)]
    movablecore: Option<CoreSize>,
    /// `movable_node`: hotpluggable memory becomes ZONE_MOVABLE.
    #[arg(long)]
    movable_node: bool,
}

fn parse_core(s: &str) -> Result<CoreSize, String> {
    if let Some(p) = s.strip_suffix('%') {
        return match p.parse::<u32>() {
            Ok(v) if v <= 100 => Ok(CoreSize::Percent(v)),
            _ => Err(format!("`{s}`: a percentage must be 0-100%")),
        };
    }
    parse_size(s).map(|b| CoreSize::Pages(b >> 12))
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the mm bring-up on a machine and print what Linux prints.
    ///
    /// With no machine flags it boots the built-in default: x86_64, 8 GiB, as QEMU's pc
    /// machine and SeaBIOS describe it.
    Boot {
        #[command(flatten)]
        m: MachineArgs,
        /// Boot with `memblock=debug`: trace memblock calls and dump memblock.
        #[arg(long)]
        memblock_debug: bool,
        /// After the boot lines, show these views (comma-separated): buddyinfo, zoneinfo,
        /// meminfo, memblock, iomem, wx, percpu, maps.
        #[arg(long, value_delimiter = ',', value_enum)]
        show: Vec<View>,
        /// Print the results as JSON instead of Linux's lines.
        #[arg(long)]
        json: bool,
    },
    /// Boot a machine, then walk a virtual address through the kernel page table level by
    /// level (index, table, raw entry, decoded bits), as one would trace it by hand.
    Walk {
        /// The virtual address (e.g. 0xffff888100000000, the linear map on x86_64).
        #[arg(value_parser = parse_size)]
        va: u64,
        #[command(flatten)]
        m: MachineArgs,
        /// Which address space: the kernel's page table, or the first user address space
        /// (init's, with the vDSO mapped by the arch's rule).
        #[arg(long, value_enum, default_value = "kernel")]
        mm: MmSel,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Run a memblock script (one call per line; `-` reads standard input).
    Memblock {
        /// The script file, or `-`.
        script: PathBuf,
        /// Print the memblock=debug trace of each call (to standard error).
        #[arg(long)]
        debug: bool,
    },
    /// Boot a machine, then run a memory-hotplug script on it (one call per line: add,
    /// online, offline, remove, alloc, free, write, check, policy, movable_node, show,
    /// audit; `-` reads standard input).
    Hotplug {
        /// The script file, or `-`.
        script: PathBuf,
        #[command(flatten)]
        m: MachineArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// List the architectures and their geometry.
    Arches {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Survey a Linux source tree: every definition of arch symbols, grouped by body (the
    /// talk's quiz: how many definitions are there, how many are needed).
    Survey(archmm_survey::SurveyArgs),
    /// Build the bare-metal kernel for ARCH (kernels/) and boot it under QEMU: archmm's
    /// bring-up on the emulated CPU and MMU, then self-tests on real memory. Streams the
    /// console; exits 0 when the kernel passed.
    Qemu {
        /// Architecture (Linux's name; Rust's spelling accepted).
        #[arg(long, value_parser = parse_arch, default_value = ARCHES[0].name)]
        arch: ArchId,
        /// Memory size of the QEMU machine.
        #[arg(long, value_parser = parse_size, default_value = "1G")]
        mem: u64,
        /// CPUs of the QEMU machine (the kernel brings up the boot CPU).
        #[arg(long, default_value_t = 1)]
        smp: usize,
        /// Boot this kernel image instead of building one.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Kill QEMU after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Print the hook table: each generic hook, which arches override it, and why.
    Hooks {
        /// Only this arch's overrides.
        #[arg(long, value_parser = parse_arch)]
        arch: Option<ArchId>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `println!` into a buffer (written at once by [`emit`], which tolerates a closed pipe).
macro_rules! outln {
    ($buf:expr) => {{
        $buf.push('\n');
    }};
    ($buf:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($buf, $($arg)*);
    }};
}

/// Write `buf` to standard output; a reader that went away (`| head`) is not an error.
fn emit(buf: &str) -> ExitCode {
    match std::io::stdout().lock().write_all(buf.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("archmm: {msg}");
    ExitCode::from(2)
}

fn read_file(p: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn read_text(p: &PathBuf) -> Result<String, String> {
    let b = read_file(p)?;
    String::from_utf8(b).map_err(|_| format!("{}: not a text file (invalid UTF-8)", p.display()))
}

fn print_boot(r: &BootReport, json: bool, show: &[View]) -> std::io::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, r)?;
        writeln!(out)?;
    } else {
        for l in &r.log {
            writeln!(out, "{l}")?;
        }
        for v in show {
            let (key, title) = v.key();
            writeln!(out, "\n# {title}")?;
            write!(out, "{}", r.views.get(key).map(String::as_str).unwrap_or(""))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every arch's QEMU machine types, from the registry.
fn qemu_machine_types() -> clap::builder::PossibleValuesParser {
    let mut names: Vec<&'static str> = Vec::new();
    for a in ARCHES {
        for m in a.qemu_machines {
            if !names.contains(m) {
                names.push(m);
            }
        }
    }
    clap::builder::PossibleValuesParser::new(names)
}

fn load_machine(a: &MachineArgs) -> Result<(Machine, ArchId), String> {
    let arch = a.arch.arch;
    if let Some(p) = &a.e820 {
        if arch.info().firmware != FirmwareKind::E820 {
            let e820: Vec<_> = ARCHES.iter().filter(|a| a.firmware == FirmwareKind::E820).map(|a| a.name).collect();
            return Err(format!(
                "--e820 describes an e820 machine ({}); --arch {} takes --dtb",
                e820.join(", "),
                arch.info().name
            ));
        }
        let t = read_text(p)?;
        let m = Machine::from_e820_text(&t, arch).map_err(|e| format!("{}: {e}", p.display()))?;
        return Ok((m, arch));
    }
    if let Some(p) = &a.dtb {
        if arch.info().firmware != FirmwareKind::DeviceTree {
            return Err(format!(
                "--dtb describes a device-tree machine; --arch {} boots from {:?}",
                arch.info().name,
                arch.info().firmware
            ));
        }
        let b = read_file(p)?;
        return Machine::from_dtb(&b, arch).map(|m| (m, arch)).map_err(|e| format!("{}: {e}", p.display()));
    }
    if let Some(p) = &a.uefi_memmap {
        let b = read_file(p)?;
        return Machine::from_uefi(&b, a.uefi_desc_size, arch)
            .map(|m| (m, arch))
            .map_err(|e| format!("{}: {e}", p.display()));
    }
    if let Some(p) = &a.machine {
        let t = read_text(p)?;
        return Machine::from_toml(&t, arch)
            .map(|(m, file_arch)| (m, file_arch.unwrap_or(arch)))
            .map_err(|e| format!("{}: {e}", p.display()));
    }
    Machine::qemu(arch, a.mem, a.numa, a.qemu_machine.as_deref())
        .map(|m| (m.with_qemu_cpus(a.smp.unwrap_or(1)), arch))
        .map_err(|e| e.to_string())
}

/// The boot options the machine flags give (the CPU count defaults to the firmware's).
fn boot_options(a: &MachineArgs, m: &Machine) -> BootOptions {
    BootOptions {
        numa_off: a.numa_off,
        cpus: a.smp.unwrap_or_else(|| m.firmware_cpus().unwrap_or(1)),
        cma: a.cma,
        kernelcore: a.kernelcore.unwrap_or_default(),
        movablecore: a.movablecore.unwrap_or_default(),
        movable_node: a.movable_node,
        ..Default::default()
    }
}

fn cmd_boot(a: &MachineArgs, memblock_debug: bool, json: bool, walk: Option<(u64, MmSel)>, show: &[View]) -> ExitCode {
    let (m, arch) = match load_machine(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let opts = BootOptions { memblock_debug, ..boot_options(a, &m) };
    let user = matches!(walk, Some((_, MmSel::User)));
    let walk = walk.map(|(va, _)| va);
    // The kernel-mapping runs (the `wx` view) walk every leaf: only when they are shown.
    let mappings = walk.is_none() && (json || show.contains(&View::Wx));
    let result = match (a.arch.mode, walk) {
        // The first user address space, in the arch's (or the named kernel mode's) boot.
        (mode, Some(va)) if user => with_progress(&m.name, || match mode {
            Some(mode) => run_mode_views(mode, &m, opts, Some((va, Some("user"))), false).unwrap_or_else(|| run_walk_views(arch, &m, opts, Some((va, Some("user"))), false)),
            None => run_walk_views(arch, &m, opts, Some((va, Some("user"))), false),
        }),
        // A walk in a named mode: a kernel mode boots in it, a user-half mode is built over
        // the booted machine (run_walk decides).
        (Some(mode), Some(_)) => with_progress(&m.name, || run_walk_views(arch, &m, opts, walk.map(|va| (va, Some(mode))), false)),
        (Some(mode), None) => match with_progress(&m.name, || run_mode_views(mode, &m, opts, None, mappings)) {
            Some(r) => r,
            None => return fail(format!("`{mode}` is not a mode {} kernels run in; `archmm walk --arch {mode} VADDR` shows it over a booted machine", arch.info().name)),
        },
        (None, _) => with_progress(&m.name, || run_walk_views(arch, &m, opts, walk.map(|va| (va, None)), mappings)),
    };
    match result {
        Ok(r) => {
            let res = match walk {
                Some(va) => print_walk(&r, va, json),
                None => print_boot(&r, json, show),
            };
            match res {
                Ok(code) => code,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Err((log, e)) => {
            let _ = emit(&log.iter().map(|l| format!("{l}\n")).collect::<String>());
            fail(format!("boot failed: {e}"))
        }
    }
}

fn cmd_qemu(arch: ArchId, mem: u64, smp: usize, kernel: Option<PathBuf>, timeout: u64) -> ExitCode {
    use archmm_host::qemu;
    let Some(t) = qemu::KernelTarget::of(arch) else {
        let have: Vec<&str> = qemu::targets().iter().map(|t| t.arch.info().name).collect();
        return fail(format!(
            "no bare-metal kernel for {} yet; kernels exist for {}",
            arch.info().name,
            have.join(", ")
        ));
    };
    let kernel = match kernel {
        Some(k) => k,
        None => {
            eprintln!("archmm: building the {} kernel ({})", arch.info().name, t.kernel.rust_target);
            match qemu::build_kernel(&t) {
                Ok(k) => k,
                Err(e) => return fail(e),
            }
        }
    };
    eprintln!(
        "archmm: {} -m {}M -smp {} -kernel {} ({})",
        t.kernel.qemu,
        mem >> 20,
        smp.max(1),
        kernel.display(),
        t.kernel.exit_how
    );
    let out = match qemu::boot(&t, &kernel, mem, smp, std::time::Duration::from_secs(timeout), |l| println!("{l}")) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    if out.passed {
        eprintln!("archmm: {} kernel passed (QEMU exit status {})", arch.info().name, t.kernel.pass_status);
        ExitCode::SUCCESS
    } else if out.timed_out {
        fail(format!("QEMU did not finish within {timeout} s"))
    } else {
        fail(format!(
            "the {} kernel failed (QEMU exit status {:?}; {} on success)",
            arch.info().name,
            out.status,
            t.kernel.pass_status
        ))
    }
}

/// Run `f`; if it takes longer than a second, say on standard error that the boot is still
/// going (once a second, on one line), so a long run (a 1 TiB machine) is not silent.
fn with_progress<T: Send>(what: &str, f: impl FnOnce() -> T + Send) -> T {
    use std::io::IsTerminal;
    use std::sync::mpsc::{channel, RecvTimeoutError};
    if !std::io::stderr().is_terminal() {
        return f();
    }
    use std::time::{Duration, Instant};
    let (tx, rx) = channel::<()>();
    let start = Instant::now();
    std::thread::scope(|s| {
        let watcher = s.spawn(move || {
            let mut shown = false;
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(1)) {
                eprint!("\rarchmm: booting {what}: {:.0} s", start.elapsed().as_secs_f64());
                shown = true;
            }
            if shown {
                eprintln!("\rarchmm: booting {what}: done in {:.1} s", start.elapsed().as_secs_f64());
            }
        });
        let r = f();
        let _ = tx.send(());
        let _ = watcher.join();
        r
    })
}

fn print_walk(r: &BootReport, va: u64, json: bool) -> std::io::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"va": va, "mode": r.paging_mode, "pgd": r.pgd, "walk": r.walk}),
        )?;
        writeln!(out)?;
    } else {
        let pa = va.wrapping_sub(r.linear_offset);
        if r.linear_window && va >= r.linear_offset && pa < r.linear_end {
            // LoongArch's DMW1: the hardware maps the whole window, no table is walked.
            writeln!(
                out,
                "{va:#018x} is in {}'s direct-mapping window (the linear map): no page table is walked",
                r.arch
            )?;
            writeln!(out, "  => {va:#018x} -> {pa:#x}")?;
            return Ok(ExitCode::SUCCESS);
        }
        let Some(pgd) = r.pgd else {
            writeln!(
                out,
                "{}: {va:#018x} is outside the linear map's window and no kernel page table was built",
                r.arch
            )?;
            return Ok(ExitCode::from(1));
        };
        writeln!(out, "walk of {va:#018x} in {} on {} ({}), root at {pgd:#x}", r.paging_mode, r.arch, r.machine)?;
        for l in &r.walk {
            write!(
                out,
                "  {:<4}[{:>4}] table {:#014x} entry@{:#014x} = {:#018x}  ",
                l.level, l.index, l.table, l.entry_pa, l.raw
            )?;
            match (l.kind, l.target, l.size, &l.prot) {
                ("table", Some(t), _, _) => writeln!(out, "table -> {t:#x}")?,
                ("leaf", Some(pa), Some(sz), Some(p)) => writeln!(out, "leaf {} page at {pa:#x} [{p}]", human(sz))?,
                _ => writeln!(out, "not present")?,
            }
        }
        match r.walk.last() {
            Some(WalkLevel { kind: "leaf", target: Some(pa), size: Some(sz), .. }) => {
                writeln!(out, "  => {va:#018x} -> {:#x}", pa + (va & (sz - 1)))?;
            }
            _ => {
                writeln!(out, "  => {va:#018x} is not mapped (the walk faults here)")?;
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A script file, or standard input for `-`.
fn read_script(script: &PathBuf) -> Result<String, String> {
    if script.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| format!("standard input: {e}"))?;
        Ok(s)
    } else {
        read_text(script)
    }
}

fn cmd_memblock(script: PathBuf, debug: bool) -> ExitCode {
    let text = match read_script(&script) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if debug {
        archmm_host::emulator::install_logger();
    }
    let out = ScriptRunner::new(debug).run(&text);
    let _ = emit(&out.output);
    ExitCode::from(out.exit_code() as u8)
}

fn cmd_hotplug(script: PathBuf, a: &MachineArgs, json: bool) -> ExitCode {
    let text = match read_script(&script) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let (m, arch) = match load_machine(a) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let opts = boot_options(a, &m);
    match archmm_host::hotplug_script::run(arch, a.arch.mode, &m, opts, &text) {
        Ok(out) => {
            let body = if json {
                serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
            } else {
                out.lines.iter().map(|l| format!("{l}\n")).collect()
            };
            let _ = emit(&body);
            ExitCode::from(if out.audit_failures > 0 { 1 } else { 0 })
        }
        Err(e) => fail(e),
    }
}

fn cmd_arches(json: bool) -> ExitCode {
    let mut buf = String::new();
    use archmm::arch::modes::MODES;
    let human = |b: u64| match b {
        b if b >= 1 << 40 => format!("{}T", b >> 40),
        b if b >= 1 << 30 => format!("{}G", b >> 30),
        b if b >= 1 << 20 => format!("{}M", b >> 20),
        b => format!("{}K", b >> 10),
    };
    if json {
        let arches: Vec<_> = ARCHES
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name, "aliases": a.aliases, "page_shift": a.page_shift,
                    "max_physmem_bits": a.max_physmem_bits, "section_size_bits": a.section_size_bits,
                    "firmware": format!("{:?}", a.firmware), "memory_model": a.default_model.name(),
                    "zones": a.zones.iter().map(|z| z.name()).collect::<Vec<_>>(), "boots": true,
                })
            })
            .collect();
        let modes: Vec<_> = MODES
            .iter()
            .map(|m| {
                let names = (m.level_names)();
                serde_json::json!({
                    "name": m.name, "arch": m.arch, "va_bits": m.va_bits, "pa_bits": m.pa_bits,
                    "va_range": format!("{:?}", m.va_range), "entry_size": m.entry_size,
                    "levels": m.levels.iter().enumerate().map(|(i, l)| serde_json::json!({
                        "name": names.get(i).copied().unwrap_or("?"), "shift": l.shift, "bits": l.bits,
                        "leaf": l.leaf, "table_bytes": (m.table_bytes)(i)})).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            buf,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"arches": arches, "modes": modes})).unwrap_or_default()
        );
        return emit(&buf);
    }
    outln!(buf, "Architectures that boot on the host emulator:");
    outln!(
        buf,
        "  {:<10} {:<16} {:>5} {:>8} {:>8} {:<11} {:<18} zones",
        "arch",
        "aliases",
        "page",
        "pa-bits",
        "section",
        "firmware",
        "memory model"
    );
    for a in ARCHES {
        outln!(
            buf,
            "  {:<10} {:<16} {:>5} {:>8} {:>8} {:<11} {:<18} {}",
            a.name,
            a.aliases.join(","),
            human(1 << a.page_shift),
            a.max_physmem_bits,
            human(1 << a.section_size_bits),
            format!("{:?}", a.firmware),
            a.default_model.name(),
            a.zones.iter().map(|z| z.name()).collect::<Vec<_>>().join(",")
        );
    }
    outln!(
        buf,
        "\nPaging modes ({}), one generic engine; levels root first as name:index bits, * = leaves allowed:",
        MODES.len()
    );
    outln!(
        buf,
        "  {:<24} {:<12} {:>3} {:>3} {:<10} {:>5}  levels (leaf sizes)",
        "mode",
        "arch",
        "va",
        "pa",
        "va range",
        "entry"
    );
    for m in MODES {
        let names = (m.level_names)();
        let levels: Vec<String> = m
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "{}:{}{}",
                    names.get(i).copied().unwrap_or("?"),
                    l.bits,
                    if l.leaf { format!("*{}", human(l.span())) } else { String::new() }
                )
            })
            .collect();
        outln!(
            buf,
            "  {:<24} {:<12} {:>3} {:>3} {:<10} {:>5}  {}",
            m.name,
            m.arch,
            m.va_bits,
            m.pa_bits,
            format!("{:?}", m.va_range),
            m.entry_size,
            levels.join(" ")
        );
    }
    emit(&buf)
}

fn cmd_hooks(only: Option<ArchId>, json: bool) -> ExitCode {
    let mut buf = String::new();
    let arches: Vec<_> = ARCHES.iter().filter(|a| only.is_none_or(|o| o == a.id)).collect();
    // Who overrides what: each arch's kernel modes (an override that applies in any of them
    // counts once) and their paging modes' page-table helpers.
    let mut who: Vec<(&str, &archmm::arch::Override)> = Vec::new();
    for m in archmm::arch::modes::MODES.iter().filter(|m| arches.iter().any(|a| a.id == m.arch_id)) {
        for o in m.arch_overrides.iter().chain(m.overrides).filter(|o| o.applies) {
            if !who.iter().any(|(n, x)| *n == m.arch && x.hook == o.hook) {
                who.push((m.arch, o));
            }
        }
    }
    if json {
        let v: Vec<_> = HOOKS
            .iter()
            .map(|h| {
                let ov: Vec<_> = who
                    .iter()
                    .filter(|(_, o)| o.hook == h.hook)
                    .map(|(n, o)| serde_json::json!({"arch": n, "reason": o.reason}))
                    .collect();
                serde_json::json!({"hook": h.hook, "linux": h.linux, "generic": h.generic,
                    "definitions": 1 + ov.len(), "overrides": ov})
            })
            .collect();
        outln!(buf, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return emit(&buf);
    }
    outln!(
        buf,
        "{} bring-up arches ({}) and {} paging modes; one generic definition per hook, overrides only with a reason.\n",
        arches.len(),
        arches.iter().map(|a| a.name).collect::<Vec<_>>().join(", "),
        archmm::arch::modes::MODES.len()
    );
    let w = HOOKS.iter().map(|h| h.hook.len()).max().unwrap_or(4);
    outln!(buf, "{:<w$} {:>5}  {:<40}", "hook", "defs", "overridden by");
    for h in HOOKS {
        let by: Vec<_> = who.iter().filter(|(_, o)| o.hook == h.hook).map(|(n, _)| *n).collect();
        outln!(
            buf,
            "{:<w$} {:>5}  {}",
            h.hook,
            1 + by.len(),
            if by.is_empty() { "-".to_string() } else { by.join(", ") }
        );
    }
    outln!(buf);
    for h in HOOKS {
        outln!(buf, "{}  (Linux: {})", h.hook, h.linux);
        outln!(buf, "  generic: {}", h.generic);
        for (n, o) in who.iter().filter(|(_, o)| o.hook == h.hook) {
            outln!(buf, "  {:<8} {}", n, o.reason);
        }
        outln!(buf);
    }
    emit(&buf)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Boot { m, memblock_debug, show, json } => cmd_boot(&m, memblock_debug, json, None, &show),
        Cmd::Walk { va, m, mm, json } => cmd_boot(&m, false, json, Some((va, mm)), &[]),
        Cmd::Memblock { script, debug } => cmd_memblock(script, debug),
        Cmd::Hotplug { script, m, json } => cmd_hotplug(script, &m, json),
        Cmd::Arches { json } => cmd_arches(json),
        Cmd::Survey(a) => {
            let code = archmm_survey::run(&a, &mut std::io::stdout().lock(), &mut std::io::stderr());
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Cmd::Hooks { arch, json } => cmd_hooks(arch, json),
        Cmd::Qemu { arch, mem, smp, kernel, timeout } => cmd_qemu(arch, mem, smp, kernel, timeout),
    }
}
