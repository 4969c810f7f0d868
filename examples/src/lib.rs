//! Sample configs and traces live in `configs/` and `traces/`; programs in `examples/`.
