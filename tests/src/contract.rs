//! The node's API contract as its own `/openapi.json` states it, checked against real
//! answers: a status the document lists for that route and method, a `Content-Type` it
//! lists for that status, and a JSON body its schema accepts (JSON Schema 2020-12, with the
//! `jsonschema` crate; no check here is written per route).
//!
//! [`crate::client::Client`] checks every answer it receives against this, so the whole
//! integration suite holds the node to its document. Answers from paths the document does
//! not describe (the fallback 404, a method a route does not take) are not judged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use jsonschema::Validator;
use serde_json::{Value, json};

/// One route and method of the document.
#[derive(Debug)]
pub struct Operation {
    pub method: String,
    /// The path as the document writes it, `/block/{hash}`.
    pub template: String,
    segments: Vec<Option<String>>,
    /// `parameters` and `requestBody` as written.
    pub parameters: Vec<Value>,
    pub request_body: Option<Value>,
    responses: HashMap<String, HashMap<String, Option<Validator>>>,
}

/// The document, compiled.
pub struct Contract {
    /// Every schema is compiled inside a copy of the document's components, so that its
    /// `#/components/...` references resolve.
    components: Value,
    operations: Vec<Operation>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("operations", &self.operations.len())
            .finish()
    }
}

impl Contract {
    /// Compiles `document` (an OpenAPI 3.1 description).
    pub fn new(document: &Value) -> Result<Contract, String> {
        let components = document["components"].clone();
        let mut contract = Contract {
            components,
            operations: Vec::new(),
        };
        let paths = document["paths"]
            .as_object()
            .ok_or("the document has no paths")?;
        for (template, item) in paths {
            for (method, operation) in item.as_object().ok_or("a path item is not an object")? {
                let compiled = contract.operation(template, method, operation)?;
                contract.operations.push(compiled);
            }
        }
        Ok(contract)
    }

    /// The compiled document of the node at `base`: fetched and compiled once per process
    /// and address, however many clients a test makes (a document depends only on the
    /// node binary, so a port reused by a later node is still right); `None` if it serves
    /// none (a node that is down, or something that is not a node).
    pub async fn of_node(http: &reqwest::Client, base: &str) -> Option<Arc<Contract>> {
        static COMPILED: Mutex<BTreeMap<String, Arc<Contract>>> = Mutex::new(BTreeMap::new());
        if let Some(known) = COMPILED.lock().expect("not poisoned").get(base) {
            return Some(Arc::clone(known));
        }
        let response = http.get(format!("{base}/openapi.json")).send().await.ok()?;
        let document: Value = response.json().await.ok()?;
        let contract = match Contract::new(&document) {
            Ok(contract) => Arc::new(contract),
            Err(error) => panic!("{base}/openapi.json does not compile: {error}"),
        };
        let mut compiled = COMPILED.lock().expect("not poisoned");
        Some(Arc::clone(
            compiled.entry(base.to_owned()).or_insert(contract),
        ))
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation a request to `path` (query string allowed) with `method` reaches.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.matches(&segments))
            // The most literal template wins: `/tx/test` over `/tx/{txid}`.
            .max_by_key(|op| op.segments.iter().filter(|s| s.is_some()).count())
    }

    /// Whether an answer to `method path` is one the document allows.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        let Some(operation) = self.find(method, path) else {
            return Ok(());
        };
        let route = format!("{} {}", operation.method.to_uppercase(), operation.template);
        let Some(contents) = operation.responses.get(&status.to_string()) else {
            return Err(format!(
                "{route} answered {status}, which the document does not list"
            ));
        };
        let media = content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
            .unwrap_or_default();
        if contents.is_empty() {
            return Ok(());
        }
        let Some(schema) = contents.get(&media) else {
            let listed: Vec<&String> = contents.keys().collect();
            return Err(format!(
                "{route} answered {status} as {media:?}; the document lists {listed:?}"
            ));
        };
        let Some(validator) = schema else {
            return Ok(());
        };
        let instance: Value = serde_json::from_str(body)
            .map_err(|e| format!("{route} answered {status} with JSON that does not parse: {e}"))?;
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{route} answered {status} with a body its schema refuses: {}\nbody: {body}",
                problems.join("; ")
            ))
        }
    }

    /// A validator for `schema` (which may refer to the document's components).
    pub fn validator(&self, schema: &Value) -> Result<Validator, String> {
        let wrapped = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.components,
            "allOf": [schema],
        });
        jsonschema::validator_for(&wrapped).map_err(|e| format!("{e}: {schema}"))
    }

    fn operation(
        &self,
        template: &str,
        method: &str,
        operation: &Value,
    ) -> Result<Operation, String> {
        let segments = template
            .split('/')
            .skip(1)
            .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
            .collect();
        let mut responses = HashMap::new();
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            let mut contents = HashMap::new();
            for (media, content) in response["content"].as_object().into_iter().flatten() {
                let validator = match media.as_str() {
                    "application/json" => Some(self.validator(&content["schema"])?),
                    _ => None,
                };
                contents.insert(media.clone(), validator);
            }
            responses.insert(status.clone(), contents);
        }
        Ok(Operation {
            method: method.to_owned(),
            template: template.to_owned(),
            segments,
            parameters: operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            request_body: operation.get("requestBody").cloned(),
            responses,
        })
    }
}

impl Operation {
    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(want, got)| want.as_deref().is_none_or(|w| w == *got) && !got.is_empty())
    }

    /// The statuses the document lists for this operation.
    pub fn statuses(&self) -> Vec<u16> {
        let mut statuses: Vec<u16> = self
            .responses
            .keys()
            .filter_map(|s| s.parse().ok())
            .collect();
        statuses.sort_unstable();
        statuses
    }

    /// The schema of parameter `name`, if the operation has one.
    pub fn parameter(&self, name: &str) -> Option<&Value> {
        self.parameters
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| &p["schema"])
    }

    /// The JSON request body's schema, if the operation takes one.
    pub fn body_schema(&self) -> Option<&Value> {
        self.request_body
            .as_ref()
            .map(|b| &b["content"]["application/json"]["schema"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        let document = json!({
            "paths": {
                "/tx/{txid}": { "get": { "responses": {
                    "200": { "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Tx" } } } },
                    "404": {},
                } } },
                "/tx/test": { "post": { "responses": {
                    "200": { "content": { "text/plain": { "schema": { "type": "string" } } } },
                } } },
            },
            "components": { "schemas": { "Tx": {
                "type": "object",
                "required": ["txid"],
                "properties": { "txid": { "type": "string" } },
            } } },
        });
        Contract::new(&document).expect("compiles")
    }

    #[test]
    fn an_answer_the_document_allows_passes() {
        let c = contract();
        let json = Some("application/json");
        assert_eq!(
            c.check("GET", "/tx/ab", 200, json, r#"{"txid":"ab"}"#),
            Ok(())
        );
        assert_eq!(c.check("GET", "/tx/ab?x=1", 404, None, ""), Ok(()));
        assert_eq!(
            c.check("POST", "/tx/test", 200, Some("text/plain; x=1"), "yes"),
            Ok(())
        );
        assert_eq!(
            c.check("GET", "/nowhere", 500, None, ""),
            Ok(()),
            "not described"
        );
    }

    #[test]
    fn an_answer_the_document_does_not_allow_fails() {
        let c = contract();
        let json = Some("application/json");
        for (status, content_type, body) in [
            (500, json, "{}"),
            (200, json, r#"{"id":"ab"}"#),
            (200, json, r#"{"txid":7}"#),
            (200, Some("text/html"), r#"{"txid":"ab"}"#),
            (200, json, "not json"),
        ] {
            let verdict = c.check("get", "/tx/ab", status, content_type, body);
            assert!(verdict.is_err(), "{status} {content_type:?} {body}");
        }
        assert_eq!(
            c.find("POST", "/tx/test").map(|op| op.template.as_str()),
            Some("/tx/test"),
            "the literal route, not /tx/{{txid}}"
        );
    }
}
