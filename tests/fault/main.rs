//! Fault tests: the real `hookbox` binary as a child process, driven hard over 127.0.0.1 and
//! then killed, cut off from its database, stopped, or flooded. `cargo test` runs a short
//! version; `HOOKBOX_FAULT_ROUNDS=<n> cargo test --release --test fault -- --nocapture` runs
//! longer and prints the figures recorded in docs/reliability.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/helpers/database.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use all of it")]
mod database;
#[path = "../api/helpers/proxy.rs"]
#[allow(dead_code, reason = "shared with the api tests, which use all of it")]
mod proxy;

mod flood;
mod keepalive;
mod kill;
mod load;
mod outage;
mod server;
mod shutdown;
