//! Rebuild when the web client's build output changes: it is embedded in the binary.
//!
//! Also: tests that need PostgreSQL run when `YISHI_TEST_PG` names one at build time, and
//! are reported as ignored (saying why) otherwise: `cfg(yishi_pg)`. Likewise tests that
//! need NATS with JetStream and `YISHI_TEST_NATS`: `cfg(yishi_nats)`.

fn main() {
    println!("cargo:rerun-if-changed=../web-client/dist");
    println!("cargo:rerun-if-changed=../web-client/dist/assets");
    println!("cargo:rerun-if-changed=../web-client/dist/index.html");
    println!("cargo::rustc-check-cfg=cfg(yishi_pg)");
    println!("cargo::rerun-if-env-changed=YISHI_TEST_PG");
    if std::env::var_os("YISHI_TEST_PG").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=yishi_pg");
    }
    println!("cargo::rustc-check-cfg=cfg(yishi_nats)");
    println!("cargo::rerun-if-env-changed=YISHI_TEST_NATS");
    if std::env::var_os("YISHI_TEST_NATS").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=yishi_nats");
    }
}
