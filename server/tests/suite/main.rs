//! The `mercado` binary as operators run it: the CLI, migrations under a lock, and
//! replicas sharing one database. One binary, so the server is linked once.

mod cli;
mod migration_lock;
mod replicas;
mod support;
