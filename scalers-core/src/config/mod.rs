//! Config: the model ([`model`]), the YAML loader for scalerd's own format and KEDA manifests
//! ([`load`]), reading authentication values ([`auth`]), and validation against a trigger
//! registry ([`validate`](mod@validate)).

pub mod auth;
pub mod load;
pub mod model;
pub mod validate;

pub use load::{load_file, load_str};
pub use model::*;
pub use validate::{
    Validated, ValidatedJob, ValidatedObject, validate, validate_all_with_secrets,
    validate_with_secrets,
};
