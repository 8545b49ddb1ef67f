//! End-to-end tests: the real server on loopback ports, over real SQLite files and real
//! PostgreSQL databases, driven over HTTP.

mod harness;

mod access;
mod adopt;
mod cache;
mod clients;
mod data;
mod decompression;
mod durability;
mod errors;
mod health;
mod history_access;
mod image_schema;
mod images;
mod inject;
mod inspection;
mod keystone;
mod limits;
mod list;
mod locations;
mod members;
mod metadefs;
mod notifications;
mod policy;
mod protections;
mod purge;
mod python;
mod quotas;
mod rbd;
mod s3;
mod stores;
mod tasks;
mod tempest;
mod ui;
mod v1;
mod webdownload;
mod webdriver;
