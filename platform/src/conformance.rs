//! Conformance checks every adapter of a port must pass; each adapter's tests call them.
