//! Embedded adapters: what `pinta up` runs on with no configuration and no server to install.
//!
//! * [`LocalObjectStore`] — the object store as a local directory; atomic writes, create-only via
//!   `link(2)`.
//! * [`InProcessBus`] / [`InProcessQueue`] — the topic and its SQS-like queues inside one process
//!   (visibility timeout, redelivery, delayed retries, stale receipts).
//! * [`DirDeadLetterStore`] — dead letters as one JSON file each in a folder.
//!
//! All three pass the checks in [`crate::conformance`], the same ones the AWS adapters run.

pub mod dlq_dir;
pub mod local_store;
pub mod memory_bus;

pub use dlq_dir::DirDeadLetterStore;
pub use local_store::LocalObjectStore;
pub use memory_bus::{InProcessBus, InProcessQueue};
