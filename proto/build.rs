//! Compiles `proto/` with protox (pure Rust, no system protoc) and writes two things:
//! the tonic/prost code, and the encoded descriptor set the gateway and reflection read.

use std::{env, fs, path::PathBuf};

const FILES: &[&str] = &[
    "crm/options/v1/options.proto",
    "crm/auth/v1/auth.proto",
    "crm/auth/v1/workspaces.proto",
    "crm/pipeline/v1/pipeline.proto",
    "crm/pipeline/v1/actions.proto",
    "crm/pipeline/v1/calendar.proto",
    "crm/metrics/v1/metrics.proto",
    "crm/metrics/v1/usage.proto",
    "crm/webhooks/v1/webhooks.proto",
    "crm/webhooks/v1/incoming.proto",
    "crm/messaging/v1/messaging.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.join("proto");
    // Paths relative to the package: cargo shares build outputs between checkouts of the
    // workspace at other paths (a CI clone, a worktree), and absolute paths would make one
    // checkout's build watch another's files and miss its own proto changes.
    println!("cargo:rerun-if-changed=proto");
    for entry in walk(&root)? {
        let relative = entry.strip_prefix(&manifest_dir).unwrap_or(&entry);
        println!("cargo:rerun-if-changed={}", relative.display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(FILES.iter().copied())?;

    // Encode straight from protox: a round trip through prost_types would drop the
    // extension options (http rules, auth rules) the gateway depends on.
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("crm_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

fn walk(dir: &PathBuf) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}
