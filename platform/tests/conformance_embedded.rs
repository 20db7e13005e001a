//! The shared conformance suite run against each embedded adapter.

use std::sync::Arc;
use std::time::Duration;

use pinta_contracts::EventType;
use pinta_platform::conformance;
use pinta_platform::embedded::{DirDeadLetterStore, InProcessBus, LocalObjectStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_object_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path().join("bucket"));
    conformance::object_store(&store).await;
    // Run twice on the same root: the suite must not depend on an empty backend.
    conformance::object_store(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_bus_conforms() {
    let bus = InProcessBus::new();
    let queue = bus.subscribe("conformance", &[], Duration::from_secs(30));
    // A queue with a filter that excludes the conformance events must stay empty.
    let other = bus.subscribe("failures-only", &[EventType::PipelineFailedV1], Duration::from_secs(30));
    let publisher = bus.publisher();
    conformance::event_bus(publisher.as_ref(), queue.as_ref()).await;
    assert_eq!(queue.depth(), 0);
    assert_eq!(other.depth(), 0);
    assert_eq!(bus.published_count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dir_dead_letter_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DirDeadLetterStore::new(dir.path().join("dlq")));
    conformance::dead_letter_store(store.as_ref()).await;
    conformance::dead_letter_store(store.as_ref()).await;
}
