//! `src/api.rs` is generated from `docs/openapi.json`, the document the box serves: a type for
//! every schema (by typify) and a method for every operation. This test generates it again and
//! fails if the committed file differs, so an API change cannot land without its client.
//! `cargo xtask codegen` runs it with `TONGKA_CODEGEN=1`, which rewrites the file instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use heck::ToUpperCamelCase;
use schemars::schema::Schema;
use serde_json::{Value, json};
use typify::{TypeSpace, TypeSpaceSettings};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_client_is_generated_from_the_published_document() {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/openapi.json")).expect("docs/openapi.json"),
    )
    .expect("docs/openapi.json is JSON");
    let generated = generate(&document);
    let path = root().join("appliance/client/src/api.rs");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("TONGKA_CODEGEN").is_some() {
        std::fs::write(&path, generated).expect("write src/api.rs");
        return;
    }
    panic!(
        "appliance/client/src/api.rs is not generated from docs/openapi.json: run \
         `cargo xtask codegen` and commit the result"
    );
}

/// One operation of the document, as the generated method needs it.
struct Operation {
    id: String,
    method: String,
    path: String,
    summary: String,
    path_parameters: Vec<String>,
    query: Option<String>,
    body: Body,
    answer: Answer,
}

enum Body {
    None,
    Json(String),
    Csv,
}

enum Answer {
    Nothing,
    Json(String),
    Csv,
}

fn schema(value: &Value) -> Schema {
    serde_json::from_value(value.clone()).expect("a JSON schema")
}

fn generate(document: &Value) -> String {
    let mut space = TypeSpace::new(TypeSpaceSettings::default().with_struct_builder(false));
    let schemas: Vec<(String, Schema)> = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas")
        .iter()
        .map(|(name, value)| (name.clone(), schema(value)))
        .collect();
    space
        .add_ref_types(schemas)
        .expect("typify takes the schemas");

    let type_of = |space: &mut TypeSpace, value: &Value, name: String| -> String {
        let id = space
            .add_type_with_name(&schema(value), Some(name))
            .expect("typify takes the schema");
        space.get_type(&id).expect("added").ident().to_string()
    };

    let mut operations = Vec::new();
    let paths = document["paths"].as_object().expect("paths");
    // Sorted by operation id, so the file reads like an index.
    let mut all: BTreeMap<String, (String, String, &Value)> = BTreeMap::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"].as_str().expect("operationId");
            all.insert(id.to_owned(), (method.clone(), path.clone(), operation));
        }
    }
    for (id, (method, path, operation)) in all {
        let stem = id.to_upper_camel_case();
        let mut path_parameters = Vec::new();
        let mut query_properties = serde_json::Map::new();
        let mut query_required = Vec::new();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"]
                .as_str()
                .expect("parameter name")
                .to_owned();
            match parameter["in"].as_str() {
                Some("path") => path_parameters.push(name),
                Some("query") => {
                    let mut property = parameter["schema"].clone();
                    if let (Some(object), Some(text)) =
                        (property.as_object_mut(), parameter["description"].as_str())
                    {
                        object.insert("description".into(), text.into());
                    }
                    if parameter["required"].as_bool() == Some(true) {
                        query_required.push(Value::from(name.clone()));
                    }
                    query_properties.insert(name, property);
                }
                // Idempotency-Key: the client sends its own on every write.
                _ => {}
            }
        }
        let query = (!query_properties.is_empty()).then(|| {
            let object = json!({
                "type": "object",
                "description": format!("The query of `{id}`."),
                "properties": query_properties,
                "required": query_required,
                "additionalProperties": false,
            });
            type_of(&mut space, &object, format!("{stem}Query"))
        });
        let content = &operation["requestBody"]["content"];
        let body = if let Some(json) = content.get("application/json") {
            Body::Json(type_of(&mut space, &json["schema"], format!("{stem}Body")))
        } else if content.get("text/csv").is_some() {
            Body::Csv
        } else {
            Body::None
        };
        let success = operation["responses"]
            .as_object()
            .expect("responses")
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .map(|(_, response)| &response["content"]);
        let answer = match success {
            Some(content) if content.get("application/json").is_some() => Answer::Json(type_of(
                &mut space,
                &content["application/json"]["schema"],
                format!("{stem}Answer"),
            )),
            Some(content) if content.get("text/csv").is_some() => Answer::Csv,
            _ => Answer::Nothing,
        };
        let summary = operation["summary"].as_str().unwrap_or_default().to_owned();
        operations.push(Operation {
            id,
            method: method.to_uppercase(),
            path,
            summary,
            path_parameters,
            query,
            body,
            answer,
        });
    }

    let types: syn::File = syn::parse2(space.to_stream()).expect("typify's output parses");
    let mut out = String::from(
        "// @generated from docs/openapi.json by `cargo xtask codegen` \
         (appliance/client/tests/codegen.rs): do not edit.\n\n\
         //! Every operation of the API as a typed method on [`Client`](crate::Client), and every\n\
         //! schema as a type in [`types`].\n\n\
         #![allow(clippy::all, missing_debug_implementations)]\n\n\
         use crate::{Client, ClientError, Method};\n\
         use types::*;\n\n\
         /// The API's schemas: what the box takes and answers.\n\
         pub mod types {\n",
    );
    out.push_str(&prettyplease::unparse(&types));
    out.push_str("}\n\nimpl Client {\n");
    for operation in &operations {
        method(&mut out, operation);
    }
    out.push_str("}\n");
    rustfmt(out)
}

fn method(out: &mut String, operation: &Operation) {
    for line in operation.summary.lines() {
        let _ = writeln!(out, "    /// {line}");
    }
    let _ = writeln!(
        out,
        "    ///\n    /// `{} {}`",
        operation.method, operation.path
    );
    let mut arguments = String::new();
    for name in &operation.path_parameters {
        let _ = write!(arguments, ", {name}: &str");
    }
    if let Some(query) = &operation.query {
        let _ = write!(arguments, ", query: &types::{query}");
    }
    match &operation.body {
        Body::Json(ty) => {
            let _ = write!(arguments, ", body: &{}", type_name(ty));
        }
        Body::Csv => arguments.push_str(", csv: &str"),
        Body::None => {}
    }
    let answer = match &operation.answer {
        Answer::Nothing => "()".to_owned(),
        Answer::Json(ty) => type_name(ty),
        Answer::Csv => "String".to_owned(),
    };
    let _ = writeln!(
        out,
        "    pub async fn {}(&self{arguments}) -> Result<{answer}, ClientError> {{",
        operation.id
    );
    let mut path = format!("\"{}\"", operation.path);
    if !operation.path_parameters.is_empty() {
        let mut template = operation.path.clone();
        let mut values = String::new();
        for name in &operation.path_parameters {
            template = template.replace(&format!("{{{name}}}"), "{}");
            let _ = write!(values, ", crate::segment({name})");
        }
        path = format!("format!(\"{template}\"{values})");
    }
    let query = if operation.query.is_some() {
        "Some(crate::query(query)?)"
    } else {
        "None"
    };
    let body = match &operation.body {
        Body::Json(_) => "crate::Payload::json(body)?",
        Body::Csv => "crate::Payload::csv(csv)",
        Body::None => "crate::Payload::None",
    };
    let finish = match &operation.answer {
        Answer::Nothing => "crate::nothing(answer)",
        Answer::Json(_) => "crate::parse(&answer)",
        Answer::Csv => "crate::text(answer)",
    };
    let method = &operation.method;
    let _ = writeln!(
        out,
        "        let answer = self.send(Method::{method}, &{path}, {query}, {body}).await?;\n        {finish}\n    }}\n"
    );
}

/// A type as typify names it, without the token spacing; the schema types are in scope
/// through `use types::*`.
fn type_name(ty: &str) -> String {
    ty.replace(' ', "")
}

/// The file as `cargo fmt` leaves it, so the format check and this test agree.
fn rustfmt(source: String) -> String {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rustfmt (rustup component add rustfmt)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(source.as_bytes())
        .expect("write to rustfmt");
    let output = child.wait_with_output().expect("rustfmt ran");
    assert!(
        output.status.success(),
        "rustfmt refused the generated file"
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}
