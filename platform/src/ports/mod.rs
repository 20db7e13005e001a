//! The ports: small traits with a required core and conveniences in extension traits, used as
//! `Arc<dyn Port>`. Every error says whether retrying can help.

pub mod bus;
pub mod clock;
pub mod object_store;
pub mod source;

pub use bus::{BusError, DeadLetter, DeadLetterStore, EventPublisher, EventReceiver, Message, ReplayError, replay_dead_letter};
pub use clock::{Clock, FixedClock, SystemClock};
pub use object_store::{
    GetResult, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutOutcome, StoreError,
};
pub use source::{Catalog, CatalogOperator, CatalogPaint, ProductionSource, SourceChanges, SourceError, SourceRow};
