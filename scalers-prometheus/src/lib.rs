//! The `prometheus` trigger (being written).
