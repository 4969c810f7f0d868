//! scalers-testkit
