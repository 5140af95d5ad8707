//! The `godwit` binary: parse, run, map the outcome to an exit code.
//! Everything else lives in the library.

/// mimalloc rather than the system allocator: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = godwit::cli::main();
    std::process::exit(code.code());
}
