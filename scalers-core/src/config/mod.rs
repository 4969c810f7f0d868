//! Config: the model ([`model`]), the YAML loader for scalerd's own format and KEDA manifests
//! ([`load`]), and validation against a trigger registry ([`validate`]).

pub mod load;
pub mod model;
pub mod validate;

pub use load::{load_file, load_str};
pub use model::*;
pub use validate::{ValidatedObject, validate};
