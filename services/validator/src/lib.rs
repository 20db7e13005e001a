//! validator service (being written).
