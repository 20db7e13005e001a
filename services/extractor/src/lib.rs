//! extractor service (being written).
