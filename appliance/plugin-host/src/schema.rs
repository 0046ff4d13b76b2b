//! The configuration schema a manifest declares: a small, strict subset of JSON Schema, enough to
//! describe a plugin's settings and to refuse a merchant's typo before the plugin ever sees it.
//!
//! Keywords: `type` (`object`, `string`, `integer`, `boolean`, `array`), `properties`,
//! `required`, `additionalProperties` (false by default where `properties` are listed: unknown
//! settings are refused), `items`,
//! `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, `description`, `title`. Money and rates
//! are strings of decimals; JSON numbers with fractions are refused so nothing is a float.

use serde_json::Value;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "description",
    "title",
];
const TYPES: &[&str] = &["object", "string", "integer", "boolean", "array"];

/// Whether `schema` uses only what this module understands.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    check_at(schema, "")
}

fn check_at(schema: &Value, path: &str) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return Err(format!("{path}: a schema is an object"));
    };
    for key in object.keys() {
        if !KEYWORDS.contains(&key.as_str()) {
            return Err(format!("{path}: unsupported keyword `{key}`"));
        }
    }
    if let Some(kind) = object.get("type")
        && !kind.as_str().is_some_and(|k| TYPES.contains(&k))
    {
        return Err(format!("{path}: type must be one of {}", TYPES.join(", ")));
    }
    if let Some(properties) = object.get("properties") {
        let Some(properties) = properties.as_object() else {
            return Err(format!("{path}: properties is an object"));
        };
        for (name, sub) in properties {
            check_at(sub, &format!("{path}/{name}"))?;
        }
    }
    if let Some(items) = object.get("items") {
        check_at(items, &format!("{path}/items"))?;
    }
    if let Some(required) = object.get("required")
        && !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
    {
        return Err(format!("{path}: required is a list of names"));
    }
    Ok(())
}

/// Checks `value` against `schema`; the error names the path at fault.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    validate_at(schema, value, "")
}

fn validate_at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let here = if path.is_empty() { "/" } else { path };
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{here}: not one of the allowed values"));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") | None if value.is_object() || schema.contains_key("properties") => {
            let Some(object) = value.as_object() else {
                return Err(format!("{here}: expected an object"));
            };
            let properties = schema.get("properties").and_then(Value::as_object);
            // With properties listed, others are refused unless allowed; without, any go.
            let open = schema
                .get("additionalProperties")
                .and_then(Value::as_bool)
                .unwrap_or(properties.is_none());
            for (name, item) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(sub) => validate_at(sub, item, &format!("{path}/{name}"))?,
                    None if open => {}
                    None => return Err(format!("{path}/{name}: unknown setting")),
                }
            }
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    return Err(format!("{path}/{name}: required"));
                }
            }
            Ok(())
        }
        Some("object") => Err(format!("{here}: expected an object")),
        Some("string") => {
            let Some(text) = value.as_str() else {
                return Err(format!("{here}: expected a string"));
            };
            let chars = text.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && chars < min
            {
                return Err(format!("{here}: at least {min} characters"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && chars > max
            {
                return Err(format!("{here}: at most {max} characters"));
            }
            Ok(())
        }
        Some("integer") => {
            let Some(number) = value.as_i64() else {
                return Err(format!("{here}: expected a whole number"));
            };
            if let Some(min) = schema.get("minimum").and_then(Value::as_i64)
                && number < min
            {
                return Err(format!("{here}: at least {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_i64)
                && number > max
            {
                return Err(format!("{here}: at most {max}"));
            }
            Ok(())
        }
        Some("boolean") if value.is_boolean() => Ok(()),
        Some("boolean") => Err(format!("{here}: expected true or false")),
        Some("array") => {
            let Some(items) = value.as_array() else {
                return Err(format!("{here}: expected a list"));
            };
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_at(item_schema, item, &format!("{path}/{i}"))?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["points_per_yuan"],
            "properties": {
                "points_per_yuan": {"type": "integer", "minimum": 0, "maximum": 100},
                "member_day": {"type": "string", "enum": ["mon", "tue"]},
                "excluded_categories": {"type": "array", "items": {"type": "string", "maxLength": 8}}
            }
        })
    }

    #[test]
    fn settings_are_checked_with_the_path_at_fault() {
        let schema = schema();
        assert!(check_schema(&schema).is_ok());
        assert!(validate(&schema, &json!({"points_per_yuan": 2})).is_ok());
        let refusals = [
            (json!({}), "/points_per_yuan: required"),
            (
                json!({"points_per_yuan": 1.5}),
                "/points_per_yuan: expected a whole number",
            ),
            (
                json!({"points_per_yuan": 101}),
                "/points_per_yuan: at most 100",
            ),
            (
                json!({"points_per_yuan": 1, "colour": "red"}),
                "/colour: unknown setting",
            ),
            (
                json!({"points_per_yuan": 1, "member_day": "sun"}),
                "/member_day: not one of the allowed values",
            ),
            (
                json!({"points_per_yuan": 1, "excluded_categories": ["tobacco-and-more"]}),
                "/excluded_categories/0: at most 8 characters",
            ),
            (json!([1]), "/: expected an object"),
        ];
        for (value, expected) in refusals {
            assert_eq!(validate(&schema, &value).unwrap_err(), expected, "{value}");
        }
    }

    #[test]
    fn schemas_use_the_supported_subset_only() {
        assert!(check_schema(&json!({"type": "object", "patternProperties": {}})).is_err());
        assert!(check_schema(&json!({"type": "number"})).is_err());
        assert!(check_schema(&json!({"properties": {"a": {"type": "float"}}})).is_err());
        assert!(check_schema(&json!({})).is_ok());
    }
}
