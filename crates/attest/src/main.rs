//! The `attest` binary: everything lives in the library half.

fn main() -> std::process::ExitCode {
    attest::run(std::env::args_os())
}
