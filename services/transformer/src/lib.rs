//! transformer service (being written).
