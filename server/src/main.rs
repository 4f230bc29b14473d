//! The `yishi` binary.

fn main() {
    println!("yishi {}", env!("CARGO_PKG_VERSION"));
}
