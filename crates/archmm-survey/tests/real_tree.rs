//! One check on the real Linux 6.1 tree.
//!
//! The tree is `$ARCHMM_LINUX_TREE`, else `/var/tmp/archmm-ci/linux-source-6.1`,
//! where `scripts/setup-tests` (run by the README's test command, `scripts/test`)
//! unpacks Debian's linux-source-6.1. Without it the test fails.
//!
//! How the expected facts were counted, independently of this crate, on
//! Debian's linux-source-6.1 6.1.172 (Makefile SUBLEVEL = 172):
//!
//! * `grep -rnw --include='*.[ch]' SYMBOL arch include/linux
//!   include/asm-generic mm init lib`, keeping lines that are `#define
//!   SYMBOL` (but not `#define SYMBOL SYMBOL`) or that start in column 0
//!   with a type or `SYMBOL (` and do not end in `;`, then reading every
//!   kept line and every multi-line candidate in its file to throw out
//!   declarations split over two lines (13 `extern int
//!   arch_setup_additional_pages(...,` in elf.h files, for example) and to
//!   add heads split over two lines (ia64's `void __init` /
//!   `free_initrd_mem (...)` and `static inline unsigned long` /
//!   `pgd_index (...)`, ia64's `paging_init (void)` with a space).
//! * Arch counts: `cut -d/ -f2 | sort -u | wc -l` over the kept files.
//! * "Identical to generic" by reading: s390's `pgd_index` macro is the
//!   generic one with other spacing; loongarch's `void __ref
//!   free_initmem(void) { free_initmem_default(POISON_FREE_INITMEM); }` is
//!   init/main.c's `__weak` default with another annotation.
//!
//! Files, counts and kinds are asserted on any 6.1 tree; exact line
//! numbers only on 6.1.172, since a later stable release may move lines.

use archmm_survey::{survey, DefKind, SurveyOptions, SymbolSurvey, TreeSurvey};
use std::io::Write;
use std::path::PathBuf;

/// The tree to check: `$ARCHMM_LINUX_TREE`, else where `scripts/setup-tests` unpacks it.
/// Without one the test fails: it is never skipped.
fn real_tree() -> PathBuf {
    let t = std::env::var_os("ARCHMM_LINUX_TREE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/archmm-ci/linux-source-6.1"));
    assert!(
        t.join("arch").is_dir(),
        "no Linux 6.1 source tree at {} (run scripts/setup-tests, or set ARCHMM_LINUX_TREE)",
        t.display()
    );
    t
}

/// The Makefile's SUBLEVEL, if it can be read.
fn sublevel(tree: &std::path::Path) -> Option<u32> {
    let mk = std::fs::read_to_string(tree.join("Makefile")).ok()?;
    let line = mk.lines().find(|l| l.starts_with("SUBLEVEL"))?;
    line.split('=').nth(1)?.trim().parse().ok()
}

fn sym<'a>(t: &'a TreeSurvey, name: &str) -> &'a SymbolSurvey {
    t.symbols.iter().find(|s| s.symbol == name).unwrap()
}

/// `(file, line)` of each definition, in the survey's order (file, line).
fn sites(s: &SymbolSurvey) -> Vec<(&str, usize)> {
    s.defs.iter().map(|d| (d.file.as_str(), d.line)).collect()
}

fn files(s: &SymbolSurvey) -> Vec<&str> {
    s.defs.iter().map(|d| d.file.as_str()).collect()
}

#[test]
fn linux_6_1_default_symbols() {
    let tree = real_tree();
    let exact = sublevel(&tree) == Some(172);
    let syms: Vec<String> = archmm_survey::DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect();
    let start = std::time::Instant::now();
    let t = survey(std::slice::from_ref(&tree), &syms, &SurveyOptions::default(), &mut |_| {}).unwrap().remove(0);
    let _ = writeln!(
        std::io::stderr(),
        "real_tree: surveyed {} ({} files, {} mention a symbol, {} parsed) in {:.2} s; exact line checks: {exact}",
        tree.display(),
        t.files,
        t.mentioning,
        t.parsed,
        start.elapsed().as_secs_f64()
    );
    assert!(t.files > 10_000, "arch/ and the generic directories hold ~13,000 .c/.h files, got {}", t.files);

    // pgd_offset: the talk's 31 definitions in v5.0 are down to 2 in 6.1.
    let s = sym(&t, "pgd_offset");
    assert_eq!(files(s), ["arch/s390/include/asm/pgtable.h", "include/linux/pgtable.h"]);
    assert!(s.defs.iter().all(|d| d.kind == DefKind::FunctionMacro));
    assert_eq!(s.defs[1].fallback.as_deref(), Some("#ifndef pgd_offset"));
    assert_eq!((s.definitions, s.arch_definitions, s.needed, s.same_as_generic), (2, 1, 2, 0));

    // pgd_index: s390's copy is the generic one; ia64 has its own and the
    // `#define pgd_index pgd_index` marker.
    let s = sym(&t, "pgd_index");
    assert_eq!(
        files(s),
        ["arch/ia64/include/asm/pgtable.h", "arch/s390/include/asm/pgtable.h", "include/linux/pgtable.h"]
    );
    assert_eq!(s.defs[0].kind, DefKind::InlineFunction);
    assert!(s.defs[1].same_as_generic);
    assert_eq!((s.definitions, s.needed, s.same_as_generic), (3, 2, 1));
    assert_eq!(s.markers.len(), 1);
    assert_eq!(s.markers[0].text, "#define pgd_index pgd_index");

    // pte_offset_kernel: only alpha still has its own.
    let s = sym(&t, "pte_offset_kernel");
    assert_eq!(files(s), ["arch/alpha/include/asm/pgtable.h", "include/linux/pgtable.h"]);
    assert_eq!(s.arches, ["alpha"]);

    // free_initrd_mem: arm, ia64, x86 and the __weak default.
    let s = sym(&t, "free_initrd_mem");
    assert_eq!(files(s), ["arch/arm/mm/init.c", "arch/ia64/mm/init.c", "arch/x86/mm/init.c", "init/initramfs.c"]);
    assert_eq!(s.defs[3].kind, DefKind::WeakFunction);
    assert_eq!((s.arch_definitions, s.needed), (3, 4));

    // free_initmem: 14 arches + the __weak default; loongarch's is a copy of it.
    let s = sym(&t, "free_initmem");
    assert_eq!((s.definitions, s.arch_definitions, s.arches.len(), s.generic_definitions), (15, 14, 14, 1));
    let copies: Vec<&str> = s.defs.iter().filter(|d| d.same_as_generic).map(|d| d.file.as_str()).collect();
    assert_eq!(copies, ["arch/loongarch/mm/init.c"]);
    assert_eq!(s.needed, 14);

    // The arch-only ones.
    let s = sym(&t, "mem_init");
    assert_eq!((s.definitions, s.generic_definitions, s.arches.len()), (27, 0, 22));
    let s = sym(&t, "paging_init");
    assert_eq!((s.definitions, s.generic_definitions, s.arches.len()), (31, 0, 20));
    let s = sym(&t, "arch_setup_additional_pages");
    assert_eq!((s.definitions, s.arches.len()), (16, 14));

    if exact {
        assert_eq!(
            sites(sym(&t, "pgd_offset")),
            [("arch/s390/include/asm/pgtable.h", 1354), ("include/linux/pgtable.h", 133)]
        );
        assert_eq!(
            sites(sym(&t, "pgd_index")),
            [
                ("arch/ia64/include/asm/pgtable.h", 321),
                ("arch/s390/include/asm/pgtable.h", 1293),
                ("include/linux/pgtable.h", 86)
            ]
        );
        assert_eq!(
            sites(sym(&t, "free_initrd_mem")),
            [
                ("arch/arm/mm/init.c", 478),
                ("arch/ia64/mm/init.c", 151),
                ("arch/x86/mm/init.c", 994),
                ("init/initramfs.c", 644)
            ]
        );
        let fi = sym(&t, "free_initmem");
        assert!(fi.defs.iter().any(|d| (d.file.as_str(), d.line) == ("init/main.c", 1512)));
        assert!(fi.defs.iter().any(|d| (d.file.as_str(), d.line) == ("arch/loongarch/mm/init.c", 110)));
    }
}
