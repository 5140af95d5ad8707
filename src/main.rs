//! The `godwit` binary: parse, run, map the outcome to an exit code.
//! Everything else lives in the library.

fn main() {
    let code = godwit::cli::main();
    std::process::exit(code.code());
}
