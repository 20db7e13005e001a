//! dashboard-gateway service (being written).
