//! Regenerates include/holdfast.h from this crate. The header is committed;
//! bin/test fails when a build changes it (`git diff --exit-code include/`).

use std::path::PathBuf;

fn main() {
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../../include/holdfast.h");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => bindings,
        Err(error) => {
            // A syntax error is reported by rustc itself, more clearly.
            println!("cargo:warning=cbindgen could not generate the header: {error}");
            return;
        }
    };
    // Writes only when the text changed, so the header's mtime is stable.
    bindings.write_to_file(header);
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libholdfast_capi.so");
    }
}
