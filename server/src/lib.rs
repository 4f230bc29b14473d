//! Yishi (议事): the room engine and, around it, the server shell.

pub mod auth;
pub mod config;
pub mod room;
pub mod store;

/// TEMPORARY, until the hub and HTTP layer land: the lead replaces this with the real
/// server. Kept only so that `yishi serve` compiles on the `shell` branch.
pub async fn serve(_config: config::Config) -> anyhow::Result<()> {
    anyhow::bail!("serve is not built yet")
}
