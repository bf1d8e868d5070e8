//! Pick the linker script of the target architecture.
fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let script = match arch.as_str() {
        "x86_64" => "x86_64.ld",
        "aarch64" => "aarch64.ld",
        "riscv64" => "riscv64.ld",
        "loongarch64" => "loongarch64.ld",
        _ => return,
    };
    println!("cargo:rustc-link-arg=-T{dir}/link/{script}");
    println!("cargo:rerun-if-changed=link/{script}");
}
