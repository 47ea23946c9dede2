//! Hookbox: a self-hosted inbox for signed webhook callbacks.
//!
//! Data flows one way: HTTP → verify (`ingest::signature`) → parse (`ingest::payload`) →
//! store (`store::writer`) → respond.

pub mod accounts_cli;
pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod health;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod operations;
pub mod rejections;
pub mod retention;
pub mod send_test;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod token_bucket;
