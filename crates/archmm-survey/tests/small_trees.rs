//! Integration tests on small Linux-like trees made by the tests.
//!
//! Each tree has `arch/<arch>/...` and generic directories and covers one
//! concern: every definition form, generic-fallback guards, mentions that
//! are not definitions, `#ifdef` variants within one arch, files that do
//! not parse, binary and unreadable files, and bad input to `run()`.

use archmm_survey::{
    run, survey, DefKind, DetectedBy, SurveyArgs, SurveyOptions, SymbolSurvey, TreeSurvey, EXIT_OK, EXIT_USAGE,
};
use clap::Parser;
use std::fs;
use std::path::{Path, PathBuf};

/// Writes `files` (relative path, contents) under a new temporary tree.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("arch")).unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    dir
}

/// Surveys `syms` in one tree with the library API.
fn survey_one(root: &Path, syms: &[&str]) -> TreeSurvey {
    let syms: Vec<String> = syms.iter().map(|s| s.to_string()).collect();
    let mut t = survey(&[root.to_path_buf()], &syms, &SurveyOptions { jobs: 2 }, &mut |_| {}).unwrap();
    t.remove(0)
}

fn sym<'a>(t: &'a TreeSurvey, name: &str) -> &'a SymbolSurvey {
    t.symbols.iter().find(|s| s.symbol == name).unwrap()
}

/// `file:line` of each definition, sorted.
fn sites(s: &SymbolSurvey) -> Vec<String> {
    s.defs.iter().map(|d| format!("{}:{}", d.file, d.line)).collect()
}

/// Runs the CLI entry point with command-line words; returns (status, stdout, stderr).
fn cli(words: &[&str]) -> (i32, String, String) {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SurveyArgs,
    }
    let mut argv = vec!["archmm-survey"];
    argv.extend_from_slice(words);
    let args = Cli::try_parse_from(argv).unwrap().args;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&args, &mut out, &mut err);
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

const GENERIC_PGTABLE: &str = r#"/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_PGTABLE_H
#define _LINUX_PGTABLE_H

/* pgd_offset() is defined below unless the arch has one */
#ifndef pgd_offset
#define pgd_offset(mm, address)		pgd_offset_pgd((mm)->pgd, (address))
#endif

#ifndef pgd_index
/* Must be a compile-time constant */
#define pgd_index(a)  (((a) >> PGDIR_SHIFT) & \
			(PTRS_PER_PGD - 1))
#endif

#ifndef pte_offset_kernel
static inline pte_t *pte_offset_kernel(pmd_t *pmd, unsigned long address)
{
	return (pte_t *)pmd_page_vaddr(*pmd) + pte_index(address);
}
#define pte_offset_kernel pte_offset_kernel
#endif

extern void paging_init(void);
#endif /* _LINUX_PGTABLE_H */
"#;

const GENERIC_PGALLOC: &str = r#"#ifndef __ASM_GENERIC_PGALLOC_H
#define __ASM_GENERIC_PGALLOC_H
#ifndef __HAVE_ARCH_PTE_ALLOC_ONE
static inline pgtable_t pte_alloc_one(struct mm_struct *mm)
{
	return __pte_alloc_one(mm, GFP_PGTABLE_USER);
}
#endif
#endif
"#;

const INIT_MAIN: &str = r#"
void __weak free_initmem(void)
{
	free_initmem_default(POISON_FREE_INITMEM);
}

static void __init do_basic_setup(void)
{
	paging_init();	/* not a definition */
	free_initmem();
}
"#;

/// A tree with every form of definition and several things that are not.
fn forms_tree() -> tempfile::TempDir {
    tree(&[
        ("include/linux/pgtable.h", GENERIC_PGTABLE),
        ("include/asm-generic/pgalloc.h", GENERIC_PGALLOC),
        ("init/main.c", INIT_MAIN),
        // Object-like macro, and an arch copy of the generic pgd_offset with
        // other parameter names, spacing and a comment: identical.
        (
            "arch/alpha/include/asm/pgtable.h",
            "#ifndef _ALPHA_PGTABLE_H\n#define _ALPHA_PGTABLE_H\n\
             #define pgd_offset(m, a) pgd_offset_pgd( (m)->pgd,  /* same */ (a))\n\
             #define pgd_index alpha_pgd_index\n#endif\n",
        ),
        // static inline with the __HAVE_ARCH marker, a different body.
        (
            "arch/arm/include/asm/pgalloc.h",
            "#define __HAVE_ARCH_PTE_ALLOC_ONE\nstatic inline pgtable_t\npte_alloc_one(struct mm_struct *mm)\n{\n\
             \tstruct page *pte = __pte_alloc_one(mm, GFP_PGTABLE_USER);\n\treturn pte;\n}\n",
        ),
        // Ordinary function with annotations, same as the __weak default.
        (
            "arch/loongarch/mm/init.c",
            "void __ref free_initmem(void)\n{\n\tfree_initmem_default(POISON_FREE_INITMEM);\n}\n",
        ),
        // #ifdef variants in one arch, an extern inline, a declaration and
        // a comment that mentions the symbol.
        (
            "arch/mips/mm/init.c",
            "/*\n * paging_init() sets up the page tables: void paging_init(void) { }\n */\n\
             extern void paging_init(void);\n\
             #ifdef CONFIG_64BIT\nvoid __init paging_init(void)\n{\n\tpagetable_init();\n}\n\
             #else /* !CONFIG_64BIT */\nvoid __init paging_init(void)\n{\n\tpagetable_init_32();\n}\n#endif\n",
        ),
        (
            "arch/alpha/include/asm/pte.h",
            "extern inline pte_t * pte_offset_kernel(pmd_t * dir, unsigned long address)\n{\n\treturn 0;\n}\n\
             #define pte_offset_kernel pte_offset_kernel\n",
        ),
        // Assembly is not surveyed, nor are other directories.
        ("arch/mips/kernel/head.S", "#define paging_init 1\n"),
        ("drivers/foo/foo.c", "void paging_init(void) { }\n"),
    ])
}

#[test]
fn every_definition_form() {
    let dir = forms_tree();
    let t = survey_one(
        dir.path(),
        &["pgd_offset", "pgd_index", "pte_offset_kernel", "pte_alloc_one", "free_initmem", "paging_init"],
    );

    let pgd = sym(&t, "pgd_offset");
    assert_eq!(sites(pgd), ["arch/alpha/include/asm/pgtable.h:3", "include/linux/pgtable.h:7"]);
    assert_eq!((pgd.definitions, pgd.arch_definitions, pgd.needed, pgd.same_as_generic), (2, 1, 1, 1));
    assert!(pgd.defs.iter().all(|d| d.kind == DefKind::FunctionMacro));
    let generic = pgd.defs.iter().find(|d| d.arch.is_none()).unwrap();
    assert_eq!(generic.fallback.as_deref(), Some("#ifndef pgd_offset"));
    assert_eq!(generic.conditions, ["!defined(pgd_offset)"], "include guard hidden");

    // Multi-line generic macro vs an object-like arch macro: 2 bodies.
    let idx = sym(&t, "pgd_index");
    assert_eq!((idx.definitions, idx.needed, idx.same_as_generic), (2, 2, 0));
    let kinds: Vec<DefKind> = idx.defs.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [DefKind::ObjectMacro, DefKind::FunctionMacro]);
    assert_eq!(idx.defs[1].line, 12);

    let pte = sym(&t, "pte_offset_kernel");
    assert_eq!(sites(pte), ["arch/alpha/include/asm/pte.h:1", "include/linux/pgtable.h:17"]);
    assert!(pte.defs.iter().all(|d| d.kind == DefKind::InlineFunction));
    assert_eq!(pte.markers.len(), 2, "#define pte_offset_kernel pte_offset_kernel is a marker, twice");
    assert_eq!(pte.needed, 2);

    let alloc = sym(&t, "pte_alloc_one");
    assert_eq!(sites(alloc), ["arch/arm/include/asm/pgalloc.h:3", "include/asm-generic/pgalloc.h:4"]);
    assert_eq!(alloc.defs[1].fallback.as_deref(), Some("#ifndef __HAVE_ARCH_PTE_ALLOC_ONE"));
    assert_eq!(alloc.markers.len(), 1);
    assert_eq!(alloc.markers[0].text, "#define __HAVE_ARCH_PTE_ALLOC_ONE");
    assert_eq!(alloc.markers[0].arch.as_deref(), Some("arm"));

    // __weak default, and an arch copy with other annotations: removable.
    let fi = sym(&t, "free_initmem");
    assert_eq!(sites(fi), ["arch/loongarch/mm/init.c:1", "init/main.c:2"]);
    assert_eq!(fi.defs[1].kind, DefKind::WeakFunction);
    assert_eq!(fi.defs[1].fallback.as_deref(), Some("__weak"));
    assert_eq!(fi.defs[0].kind, DefKind::Function);
    assert!(fi.defs[0].same_as_generic);
    assert_eq!((fi.needed, fi.same_as_generic), (1, 1));

    // Two #ifdef variants in mips; the comment, the declaration, the call
    // in init/main.c, the .S file and drivers/ do not count.
    let pi = sym(&t, "paging_init");
    assert_eq!(sites(pi), ["arch/mips/mm/init.c:6", "arch/mips/mm/init.c:11"]);
    assert_eq!(pi.defs[0].conditions, ["defined(CONFIG_64BIT)"]);
    assert_eq!(pi.defs[1].conditions, ["!defined(CONFIG_64BIT)"]);
    assert_eq!((pi.arches.len(), pi.arch_definitions, pi.generic_definitions, pi.needed), (1, 2, 0, 2));
    assert!(pi.defs.iter().all(|d| d.detected_by == DetectedBy::TreeSitter));

    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
}

#[test]
fn text_output_answers_the_quiz() {
    let dir = forms_tree();
    let root = dir.path().to_str().unwrap();
    let (code, out, err) = cli(&["--tree", root, "pgd_offset", "free_initmem", "--quiet"]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(err.is_empty(), "--quiet: {err}");
    let row = out.lines().find(|l| l.starts_with("pgd_offset ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    // symbol defs arch arches generic needed =generic
    assert_eq!(cols, ["pgd_offset", "2", "1", "1", "1", "1", "1"]);
    assert!(out.contains("pgd_offset: 2 definitions (1 arch in 1 arch, 1 generic); needed: 1; identical to generic: 1"));
    assert!(out.contains("arch/alpha/include/asm/pgtable.h:3"));
    assert!(out.contains("[= generic]"));
    assert!(out.contains("[generic fallback: __weak]"));

    let (_, brief, _) = cli(&["--tree", root, "pgd_offset", "--brief"]);
    assert!(brief.contains("pgd_offset "));
    assert!(!brief.contains("body 1"));
}

#[test]
fn json_output() {
    let dir = forms_tree();
    let root = dir.path().to_str().unwrap();
    let (code, out, _) = cli(&["--tree", root, "paging_init", "--json"]);
    assert_eq!(code, EXIT_OK);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &v["trees"][0]["symbols"][0];
    assert_eq!(s["symbol"], "paging_init");
    assert_eq!(s["definitions"], 2);
    assert_eq!(s["needed"], 2);
    assert_eq!(s["defs"][0]["arch"], "mips");
    assert_eq!(s["defs"][0]["kind"], "function");
    assert_eq!(s["defs"][0]["conditions"][0], "defined(CONFIG_64BIT)");
    assert_eq!(v["comparison"][0]["arch_definitions"][0], 2);
}

#[test]
fn default_symbols_are_the_talks() {
    let dir = forms_tree();
    let (code, out, _) = cli(&["--tree", dir.path().to_str().unwrap(), "--brief"]);
    assert_eq!(code, EXIT_OK);
    for s in archmm_survey::DEFAULT_SYMBOLS {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(s)), "{s} missing:\n{out}");
    }
}

#[test]
fn comparison_of_trees() {
    let old = tree(&[
        ("arch/x86/mm/init.c", "void free_initrd_mem(unsigned long s, unsigned long e) { free(s, e); }\n"),
        ("arch/arm/mm/init.c", "void free_initrd_mem(unsigned long s, unsigned long e) { free(s, e); }\n"),
        ("arch/sh/mm/init.c", "void free_initrd_mem(unsigned long a, unsigned long b) { free(a, b); }\n"),
    ]);
    let new = tree(&[
        ("arch/x86/mm/init.c", "void free_initrd_mem(unsigned long s, unsigned long e) { other(s, e); }\n"),
        ("init/initramfs.c", "void __weak free_initrd_mem(unsigned long s, unsigned long e) { free(s, e); }\n"),
    ]);
    let (code, out, _) = cli(&[
        "--tree",
        old.path().to_str().unwrap(),
        "--tree",
        new.path().to_str().unwrap(),
        "free_initrd_mem",
        "pgd_offset",
    ]);
    assert_eq!(code, EXIT_OK);
    assert!(out.starts_with("arch definitions per tree"), "{out}");
    let row: Vec<&str> = out.lines().find(|l| l.starts_with("free_initrd_mem")).unwrap().split_whitespace().collect();
    assert_eq!(row, ["free_initrd_mem", "3", "1"]);
    let row: Vec<&str> = out.lines().find(|l| l.starts_with("pgd_offset")).unwrap().split_whitespace().collect();
    assert_eq!(row, ["pgd_offset", "0", "0"]);
    // The old tree needed 1 body for 3 definitions.
    let t = survey_one(old.path(), &["free_initrd_mem"]);
    assert_eq!((t.symbols[0].definitions, t.symbols[0].needed), (3, 1));
}

#[test]
fn broken_binary_and_odd_files() {
    let dir = tree(&[
        // Unbalanced junk: tree-sitter gives up on the region, the lexical
        // rule still finds the definition, and the note says so.
        (
            "arch/csky/mm/init.c",
            "int x = ((( ;\n}}} @@ \nvoid __init mem_init(void)\n{\n\tfoo();\n}\nstatic int y = mem_init;\n",
        ),
        // A binary "header" that mentions the symbol.
        ("arch/csky/include/asm/blob.h", "void mem_init(void) { }\0\x01\x02"),
        // Not UTF-8, still C.
        ("arch/sh/mm/init.c", "/* Copyright \u{00e9} caf\u{00e9} */\nvoid mem_init(void) { }\n"),
        ("arch/README", "mem_init"),
    ]);
    fs::write(dir.path().join("arch/sh/mm/latin1.c"), b"/* \xe9\xe8 */\nvoid mem_init(void)\n{\n}\n").unwrap();
    let t = survey_one(dir.path(), &["mem_init"]);
    let s = &t.symbols[0];
    assert_eq!(sites(s), ["arch/csky/mm/init.c:3", "arch/sh/mm/init.c:2", "arch/sh/mm/latin1.c:2"]);
    assert_eq!(s.defs[0].detected_by, DetectedBy::LexicalFallback);
    assert_eq!(s.needed, 2);
    assert_eq!(t.skipped.len(), 1);
    assert_eq!(t.skipped[0].path, "arch/csky/include/asm/blob.h");
    assert!(t.skipped[0].reason.contains("binary"));
    assert_eq!(t.syntax_errors.len(), 1);
    assert_eq!(t.syntax_errors[0].path, "arch/csky/mm/init.c");

    let (code, _, err) = cli(&["--tree", dir.path().to_str().unwrap(), "mem_init"]);
    assert_eq!(code, EXIT_OK);
    assert!(err.contains("skipped 1 file(s)") && err.contains("blob.h: binary"), "{err}");
}

#[cfg(unix)]
#[test]
fn unreadable_and_special_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree(&[
        ("arch/x86/mm/init.c", "void mem_init(void) { }\n"),
        ("arch/x86/mm/secret.c", "void mem_init(void) {}\n"),
    ]);
    let secret = dir.path().join("arch/x86/mm/secret.c");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    // A FIFO named like a header must not block the survey.
    let fifo = dir.path().join("arch/x86/mm/fifo.h");
    let made_fifo = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
    let t = survey_one(dir.path(), &["mem_init"]);
    if made_fifo {
        assert!(
            t.skipped.iter().any(|n| n.path == "arch/x86/mm/fifo.h" && n.reason == "not a regular file"),
            "{:?}",
            t.skipped
        );
    }
    // root reads a 0o000 file anyway; anyone else gets a note.
    let readable = fs::read(&secret).is_ok();
    if readable {
        assert_eq!(t.symbols[0].definitions, 2);
    } else {
        assert_eq!(t.symbols[0].definitions, 1);
        assert!(t.skipped.iter().any(|n| n.path == "arch/x86/mm/secret.c" && n.reason.starts_with("cannot read")));
    }
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = forms_tree();
    let root = dir.path().to_str().unwrap();
    let file = dir.path().join("init/main.c");
    let init = dir.path().join("init");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--tree", "/nonexistent/linux"], "/nonexistent/linux: not a directory"),
        (vec!["--tree", file.to_str().unwrap()], "main.c: not a directory"),
        (vec!["--tree", init.to_str().unwrap()], "not a Linux source tree (it has no arch/ directory)"),
        (vec!["--tree", root, "pgd-offset"], "\"pgd-offset\" is not a C identifier"),
        (vec!["--tree", root, "9lives"], "is not a C identifier"),
        (vec!["--tree", root, "int"], "is not a C identifier"),
        (vec!["--tree", root, "--jobs", "0"], "--jobs must be at least 1"),
    ];
    for (words, msg) in cases {
        let (code, out, err) = cli(&words);
        assert_eq!(code, EXIT_USAGE, "{words:?}");
        assert!(out.is_empty(), "{words:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{words:?}: {err}");
        assert!(err.starts_with("archmm survey: error: ") && err.contains(msg), "{words:?}: {err}");
    }
    // Programmatic use with no tree at all.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(run(&SurveyArgs::default(), &mut out, &mut err), EXIT_USAGE);
    assert!(String::from_utf8(err).unwrap().contains("no tree given"));
}

#[test]
fn clap_arguments() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SurveyArgs,
    }
    let a = Cli::try_parse_from(["x", "--tree", "a", "--tree", "b", "s1", "s2", "--json", "--jobs", "3", "--quiet"])
        .unwrap()
        .args;
    assert_eq!(a.trees, [PathBuf::from("a"), PathBuf::from("b")]);
    assert_eq!(a.symbols, ["s1", "s2"]);
    assert!(a.json && a.quiet && !a.brief);
    assert_eq!(a.jobs, Some(3));
    assert!(Cli::try_parse_from(["x", "pgd_offset"]).is_err(), "--tree is required");
    assert!(Cli::try_parse_from(["x", "--tree", "a", "--brief", "--details"]).is_err());
}

#[test]
fn duplicates_and_order_are_kept_stable() {
    let dir = forms_tree();
    let syms: Vec<String> = ["paging_init", "pgd_offset", "paging_init"].iter().map(|s| s.to_string()).collect();
    let a = survey(&[dir.path().to_path_buf()], &syms, &SurveyOptions { jobs: 1 }, &mut |_| {}).unwrap();
    let b = survey(&[dir.path().to_path_buf()], &syms, &SurveyOptions { jobs: 4 }, &mut |_| {}).unwrap();
    let names: Vec<&str> = a[0].symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(names, ["paging_init", "pgd_offset"]);
    let ja = serde_json::to_value(&a[0].symbols).unwrap();
    let jb = serde_json::to_value(&b[0].symbols).unwrap();
    assert_eq!(ja, jb, "results do not depend on the thread count");
}
