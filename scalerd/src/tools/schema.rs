//! `scalerd schema`: the JSON Schema of scalerd's own config format, for editors.
//!
//! The schema is generated from the config model (see
//! [`scalers_core::config::json_schema`]), and offers the trigger types of the registry the
//! command runs with as completions. Point the YAML language server at it with a first line
//! `# yaml-language-server: $schema=./scalerd.schema.json` in a config file.

use scalers_core::trigger::Registry;
use serde_json::Value;

/// Where the schema describes a trigger's `type`.
const TRIGGER_TYPE: &str = "/definitions/TriggerSpec/properties/type";

/// The JSON Schema of scalerd's own config format, pretty-printed, with a final newline; the
/// types of `registry` are listed as `examples` of a trigger's `type` (other types stay valid
/// to the schema: a program may register its own).
///
/// ```
/// let text = scalerd::tools::schema::render(&scalerd::builtin_registry());
/// assert!(text.contains("\"scaledObjects\""));
/// assert!(text.contains("\"redis-streams\""));
/// ```
pub fn render(registry: &Registry) -> String {
    let mut schema = scalers_core::config::json_schema::config_schema();
    if let Some(Value::Object(field)) = schema.pointer_mut(TRIGGER_TYPE) {
        let types: Vec<Value> = registry.types().map(Value::from).collect();
        field.insert("examples".to_owned(), Value::Array(types));
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
