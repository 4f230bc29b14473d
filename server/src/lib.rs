//! Yishi (议事): the room engine and, around it, the server shell.

pub mod room;
pub mod store;
