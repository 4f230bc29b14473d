//! Rebuild when the web client's build output changes: it is embedded in the binary.

fn main() {
    println!("cargo:rerun-if-changed=../web-client/dist");
    println!("cargo:rerun-if-changed=../web-client/dist/assets");
    println!("cargo:rerun-if-changed=../web-client/dist/index.html");
}
