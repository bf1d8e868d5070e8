//! Linux's memblock test suite (tools/testing/memblock, 6.1), translated into archmm's
//! memblock script language (tests/data/memblock/*.mbt, see the README there), run
//! against our memblock. Every `expect` line must hold.

use archmm_host::script::ScriptRunner;
use std::path::Path;

#[test]
fn linux_memblock_scenarios_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/memblock");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/memblock exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "mbt"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "expected the translated Linux suite, found {} files", files.len());
    let mut cases = 0;
    let mut expects = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable script");
        cases += text.lines().filter(|l| l.trim() == "reset").count();
        let n_expect = text.lines().filter(|l| l.trim_start().starts_with("expect ")).count();
        assert!(n_expect > 0, "{}: a conformance script without expectations checks nothing", f.display());
        expects += n_expect;
        let out = ScriptRunner::new(false).run(&text);
        assert_eq!(out.syntax_errors, 0, "{}:\n{}", f.display(), out.output);
        assert_eq!(out.expect_failures, 0, "{}:\n{}", f.display(), out.output);
    }
    assert!(cases >= 200, "only {cases} cases");
    assert!(expects >= 1000, "only {expects} expectations");
}

#[test]
fn a_wrong_expectation_is_caught() {
    // The harness itself must be able to fail.
    let out = ScriptRunner::new(false).run("reset\nadd 0x1000 0x1000\nexpect memory[0] 0x1000 0x2000\n");
    assert_eq!(out.expect_failures, 1);
}
