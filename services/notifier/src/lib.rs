//! notifier service (being written).
