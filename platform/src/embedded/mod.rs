//! Embedded adapters: what `pinta up` runs on with no configuration and no server to install.
