//! Integration tests: the real server, real databases, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_feed;
mod admin_gap;
mod auth;
mod cli;
mod dashboard_browser;
mod dashboard_flow;
mod dashboard_rejected;
mod dashboard_serving;
mod dashboard_unread;
mod dashboard_xss;
mod digest_migration;
mod helpers;
mod history_reads;
mod ingest;
mod ingest_limits;
mod ingest_storage;
mod ingest_throttle;
mod openapi;
mod operations;
mod sources;
mod sources_reload;
mod store_connections;
mod vacuum;
mod writer;
