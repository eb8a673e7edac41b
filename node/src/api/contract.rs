//! What the OpenAPI document states beyond the handlers' own annotations, applied once to
//! the generated document: the patterns of path parameters (the ones `extract`'s parsers
//! enforce), and the error responses each route can give, with their body shapes
//! (`error::ApiError` is the one place that produces them). It changes no behaviour: it
//! only writes down what the router and the handlers already do, so that a schema-driven
//! client and the node agree (`tests/tests/api_contract.rs` holds them to it).

use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

/// Block hashes and txids: 64 hex digits (either case, as `BlockHash::from_str` reads).
pub(super) const HASH_PATTERN: &str = "^[0-9a-fA-F]{64}$";
/// P2PKH addresses: Base58 of 25 bytes (the checksum is checked too, so a string of this
/// shape can still be refused).
pub(super) const ADDRESS_PATTERN: &str = "^[1-9A-HJ-NP-Za-km-z]{25,35}$";

/// `{"status":"error","error","code"}`: malformed input, unknown things, admin, limits,
/// storage.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ErrorBody {
    #[schema(pattern = "^error$")]
    status: String,
    /// What is wrong, for a person.
    error: String,
    /// The machine code (docs/api.md, "Errors").
    code: String,
}

/// `{"status":"rejected","reason","error"}`: a block or transaction that breaks a rule.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RejectedBody {
    #[schema(pattern = "^rejected$")]
    status: String,
    /// The rule's code.
    reason: String,
    error: String,
}

/// The request bodies given as alternatives (`oneOf`) of exact field sets.
const REQUEST_FORMS: [&str; 3] = ["TxForm", "BlockForm", "PeerForm"];

/// The node refuses unknown fields (`deny_unknown_fields`): so does each alternative.
fn close_alternatives(schema: &mut Value) {
    let Some(alternatives) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
        return;
    };
    for alternative in alternatives {
        alternative["additionalProperties"] = json!(false);
    }
}

/// The schema a path parameter of this name has, whatever route it is on.
fn path_parameter_schema(name: &str) -> Option<Value> {
    match name {
        "hash" | "txid" => Some(json!({ "type": "string", "pattern": HASH_PATTERN })),
        "address" => Some(json!({ "type": "string", "pattern": ADDRESS_PATTERN })),
        "height" => Some(json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })),
        _ => None,
    }
}

/// Why an error status can come back, in the document's words.
fn describe(status: &str) -> &'static str {
    match status {
        "400" => "malformed input: a parameter or body the node cannot read",
        "403" => "an admin route from a non-admin address, or a dev-chain control on main",
        "404" => "no such block, transaction or template",
        "413" => "body over 2 MiB",
        "415" => "the body's Content-Type is not application/json",
        "422" => "the block or transaction breaks a rule",
        "429" => "too many requests from this address",
        "503" => "the node's storage (or, on a peer route, its network) is unavailable",
        _ => "",
    }
}

/// Completes the generated document: `admin` are the paths only administrators reach.
pub(super) fn complete(mut doc: Value, admin: &[String]) -> Value {
    let schemas = &mut doc["components"]["schemas"];
    schemas["ErrorBody"] = serde_json::to_value(ErrorBody::schema()).expect("a schema");
    schemas["RejectedBody"] = serde_json::to_value(RejectedBody::schema()).expect("a schema");
    for form in REQUEST_FORMS {
        close_alternatives(&mut schemas[form]);
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    // The description describes itself too (it is routed apart, being made from the rest).
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": { "tags": ["node"], "operationId": "openapi", "responses": {
            "200": { "description": "this document", "content": {
                "application/json": { "schema": { "type": "object", "required": ["openapi", "paths"] } }
            } }
        } } }),
    );
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            constrain_path_parameters(operation);
            add_error_responses(operation, admin.contains(path));
        }
    }
    doc
}

fn constrain_path_parameters(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
        if let Some(schema) = parameter["name"].as_str().and_then(path_parameter_schema) {
            parameter["schema"] = schema;
        }
    }
}

/// Every status the route can answer besides its own: 400 when it reads parameters or a
/// body, 413 and 415 with a body, 403 on admin routes, 429 and 503 anywhere; each with the
/// body `ApiError` gives it (a route's own answer for a status, as `/health`'s 503, stays).
fn add_error_responses(operation: &mut Value, admin: bool) {
    let has_body = operation.get("requestBody").is_some();
    // A header (`Last-Event-ID`) that does not parse is ignored, not refused.
    let has_parameters = operation["parameters"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["in"] == "path" || p["in"] == "query"));
    let mut statuses = vec!["429", "503"];
    if has_body || has_parameters {
        statuses.push("400");
    }
    if has_body {
        statuses.extend(["413", "415"]);
    }
    if admin {
        statuses.push("403");
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    for status in statuses {
        responses
            .entry(status)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if !is_error {
            response
                .as_object_mut()
                .expect("a response object")
                .entry("description")
                .or_insert_with(|| json!("the answer"));
        }
        if !is_error || response.get("content").is_some() {
            continue;
        }
        let body = if status == "422" {
            "RejectedBody"
        } else {
            "ErrorBody"
        };
        response["description"] = json!(describe(status));
        response["content"] = json!({
            "application/json": { "schema": { "$ref": format!("#/components/schemas/{body}") } }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::{BlockHash, Txid};

    /// The pattern allows both cases because the parsers do (the contract test checks the
    /// rest against a running node).
    #[test]
    fn hashes_parse_in_either_case_as_the_pattern_says() {
        let hash = "ab".repeat(32);
        assert!(hash.parse::<BlockHash>().is_ok());
        assert!(hash.to_uppercase().parse::<Txid>().is_ok());
        assert!(hash[1..].parse::<BlockHash>().is_err(), "63 digits");
        assert!(HASH_PATTERN.contains("a-fA-F") && HASH_PATTERN.contains("{64}"));
    }
}
