//! The API contract, route by route: every route of docs/api.md is in `/openapi.json`, and
//! for every operation of the document, requests that are valid by the document get one
//! of its documented successes (or a documented 404 for what does not exist), while
//! requests the document calls invalid get the documented 400 (or 415 for a body that is
//! not JSON). Each example is first judged by the document's own schema (JSON Schema), so
//! the test finds a document that is too loose as well as a node that is too strict. Every
//! answer's body is checked against the document by the client ([`chaincore_tests::contract`]).

use std::collections::BTreeSet;

use chaincore::consensus::pow::solve_header;
use chaincore::primitives::encode;
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::contract::{Contract, Operation};
use chaincore_tests::db::Backend;
use chaincore_tests::miner::block_from_template;
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::wallet::pay;
use serde_json::{Value, json};

async fn node() -> NodeProcess {
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        extra_args: vec!["--rate-limit".into(), "0".into()],
        ..NodeOptions::default()
    })
    .await
    .expect("SQLite nodes always start")
}

/// Path and query parameters by name: values valid by the document, then invalid ones.
struct Examples {
    tip: String,
    confirmed_txid: String,
    pending_txid: String,
}

impl Examples {
    fn of(&self, name: &str) -> (Vec<String>, Vec<&'static str>) {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let alice = key(1).address().to_string();
        let nobody = key(9).address().to_string();
        match name {
            "hash" => (
                vec![self.tip.clone(), self.tip.to_uppercase(), "00".repeat(32)],
                vec![
                    "xyz",
                    "0",
                    "0000000000000000000000000000000000000000000000000000000000000000a",
                ],
            ),
            "txid" => (
                vec![
                    self.confirmed_txid.clone(),
                    self.pending_txid.clone(),
                    "ab".repeat(32),
                ],
                vec!["0", "zz"],
            ),
            "address" => (
                vec![alice, nobody],
                vec!["0OIl0OIl0OIl0OIl0OIl0OIl0OIl", "1"],
            ),
            "height" => (
                owned(&["0", "12", "99999"]),
                vec!["-1", "abc", "4294967296"],
            ),
            "limit" => (owned(&["1", "5"]), vec!["0", "x", "1001"]),
            "start" => (owned(&["0", "3"]), vec!["-1", "x"]),
            "end" => (owned(&["3"]), vec!["x"]),
            "from" | "to" => (owned(&["4"]), vec!["-1", "x"]),
            "before" => (owned(&["12:1"]), vec!["x", "1:"]),
            other => panic!("no examples for parameter {other}: add them"),
        }
    }
}

/// A parameter's text as the document's schema sees it: a number where it is one.
fn as_instance(text: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| json!(text), Value::Number)
}

/// The request path for `op` with `name` set to `value` and every other path parameter,
/// and every required query parameter, at its first valid example.
fn request(op: &Operation, examples: &Examples, name: Option<(&str, &str)>) -> String {
    let mut path = op.template.clone();
    let mut query = Vec::new();
    for parameter in &op.parameters {
        let pname = parameter["name"].as_str().expect("a name");
        let value = match name {
            Some((n, v)) if n == pname => v.to_owned(),
            _ if parameter["in"] == "path" || parameter["required"] == true => {
                examples.of(pname).0[0].clone()
            }
            _ => continue,
        };
        match parameter["in"].as_str() {
            Some("path") => path = path.replace(&format!("{{{pname}}}"), &value),
            Some("query") => query.push(format!("{pname}={value}")),
            _ => {}
        }
    }
    if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

async fn exercise_get(client: &Client, contract: &Contract, op: &Operation, ex: &Examples) {
    let route = &op.template;
    if route == "/events" {
        // A stream: the status and type are all there is to check without reading it.
        let response = client
            .http()
            .get(client.url(route))
            .send()
            .await
            .expect("GET");
        let media = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            (response.status().as_u16(), media.as_str()),
            (200, "text/event-stream")
        );
        return;
    }
    let reply = client.get(&request(op, ex, None)).await;
    assert!(is_success(reply.status), "GET {route}: {}", reply.text);
    for parameter in &op.parameters {
        let name = parameter["name"].as_str().expect("a name");
        if parameter["in"] == "header" {
            continue;
        }
        let validator = contract.validator(&parameter["schema"]).expect("a schema");
        let (valid, invalid) = ex.of(name);
        for value in &valid {
            assert!(
                validator.is_valid(&as_instance(value)),
                "{route} {name}={value}: the document refuses it"
            );
            let reply = client.get(&request(op, ex, Some((name, value)))).await;
            assert!(
                is_success(reply.status) || reply.status == 404,
                "GET {route} with {name}={value}, valid by the document: {} {}",
                reply.status,
                reply.text
            );
        }
        for value in invalid {
            assert!(
                !validator.is_valid(&as_instance(value)),
                "{route} {name}={value}: the document allows it"
            );
            let reply = client.get(&request(op, ex, Some((name, value)))).await;
            assert_eq!(
                reply.status, 400,
                "GET {route} with {name}={value}: {}",
                reply.text
            );
        }
    }
}

/// POST `body` to `route`, after checking that the document's body schema agrees.
async fn post(
    client: &Client,
    contract: &Contract,
    op: &Operation,
    body: &Value,
    valid: bool,
) -> u16 {
    let route = &op.template;
    if let Some(schema) = op.body_schema() {
        let validator = contract.validator(schema).expect("a schema");
        assert_eq!(
            validator.is_valid(body),
            valid,
            "POST {route} {body}: the document disagrees"
        );
    }
    let reply = client.post(route, body).await;
    if valid {
        assert!(
            is_success(reply.status),
            "POST {route} {body}, valid by the document: {}",
            reply.text
        );
    } else {
        assert_eq!(reply.status, 400, "POST {route} {body}: {}", reply.text);
        assert!(
            reply.body["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("invalid-")),
            "{}",
            reply.text
        );
    }
    reply.status
}

/// The routes docs/api.md names (`GET /x`, `POST /y`), parameters written as `{}`.
fn documented_routes() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
        .expect("docs/api.md");
    let mut routes = BTreeSet::new();
    for chunk in text.split('`').skip(1).step_by(2) {
        let Some((method, path)) = chunk.split_once(' ') else {
            continue;
        };
        if matches!(method, "GET" | "POST") && path.starts_with('/') {
            let path = path.split(['?', ' ']).next().unwrap_or(path);
            routes.insert(format!("{method} {}", generic(path)));
        }
    }
    routes
}

/// `/block/{hash}` → `/block/{}`.
fn generic(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_its_document_says() {
    let a = node().await;
    let b = node().await;
    let client = Client::new(&a.url);
    let document: Value = client.get("/openapi.json").await.ok();
    let contract = Contract::new(&document).expect("the document compiles");

    // A chain with something in it: 20 blocks, a confirmed payment, a pending one, and two
    // more payments (from other coins) for the POST routes.
    let alice = key(1).address().to_string();
    client
        .post("/generate", &json!({ "blocks": 20, "address": alice }))
        .await
        .ok();
    let bob = key(2).address();
    let confirmed = pay(&client, 0, &bob, 1, 10_000).await;
    let hex = |tx: &chaincore::primitives::Transaction| json!({ "hex": hex::encode(encode(tx)) });
    client.post("/add_transaction", &hex(&confirmed)).await.ok();
    client
        .post("/generate", &json!({ "blocks": 1, "address": alice }))
        .await
        .ok();
    // The spent coin is gone from the list: these are three other coins.
    let pending = pay(&client, 0, &bob, 1, 10_000).await;
    let spare = pay(&client, 1, &bob, 1, 10_000).await;
    let other_spare = pay(&client, 2, &bob, 1, 10_000).await;
    client.post("/add_transaction", &hex(&pending)).await.ok();
    let examples = Examples {
        tip: client.tip_hash().await,
        confirmed_txid: confirmed.txid().to_string(),
        pending_txid: pending.txid().to_string(),
    };

    let mut exercised = BTreeSet::new();
    for op in contract.operations().iter().filter(|op| op.method == "get") {
        exercise_get(&client, &contract, op, &examples).await;
        exercised.insert(format!("GET {}", generic(&op.template)));
    }

    let op = |method: &str, route: &str| {
        contract
            .find(method, route)
            .unwrap_or_else(|| panic!("{method} {route} is not in the document"))
    };
    let template = client
        .post("/mine_block", &json!({ "miner_address": alice }))
        .await
        .ok();
    let mut solved = block_from_template(&template);
    assert!(solve_header(&mut solved.header, 1 << 32), "a nonce");
    let posts: Vec<(&str, Vec<Value>, Vec<Value>)> = vec![
        (
            "/mine_block",
            vec![json!({ "miner_address": alice })],
            vec![
                json!({}),
                json!({ "miner_address": 5 }),
                json!({ "miner_address": alice, "x": 1 }),
            ],
        ),
        (
            "/submit_block",
            vec![json!({ "block_hex": hex::encode(encode(&solved)) })],
            vec![
                json!({}),
                json!({ "block_hex": 7 }),
                json!({ "block_hex": "00", "template_id": 1 }),
            ],
        ),
        (
            "/tx/test",
            vec![hex(&spare)],
            vec![json!({}), json!({ "hex": 1 })],
        ),
        (
            "/add_transaction",
            vec![hex(&spare)],
            vec![json!({}), json!({ "hex": "00", "transaction": {} })],
        ),
        (
            "/broadcast_transaction",
            vec![hex(&other_spare)],
            vec![json!({ "hex": [] }), json!({ "tx": "00" })],
        ),
        (
            "/generate",
            vec![json!({ "blocks": 2, "address": alice })],
            vec![
                json!({ "blocks": 0, "address": alice }),
                json!({ "blocks": "x", "address": alice }),
                json!({ "address": alice }),
            ],
        ),
        (
            "/invalidateblock",
            vec![json!({ "hash": examples.tip })],
            vec![json!({ "hash": "xyz" }), json!({})],
        ),
        (
            "/reconsiderblock",
            vec![json!({ "hash": examples.tip })],
            vec![json!({ "hash": 5 }), json!({ "block": examples.tip })],
        ),
        (
            "/addpeer",
            vec![json!({ "peer_url": b.url })],
            vec![
                json!({}),
                json!({ "peer_url": b.url, "multiaddr": "/ip4/1.2.3.4" }),
            ],
        ),
        ("/discover_peers", vec![json!(null)], vec![]),
    ];
    for (route, valid, invalid) in &posts {
        let operation = op("post", route);
        for body in valid {
            post(&client, &contract, operation, body, true).await;
        }
        for body in invalid {
            post(&client, &contract, operation, body, false).await;
        }
        if operation.request_body.is_some() {
            let reply = client.post_raw(route, "text/plain", b"{}".to_vec()).await;
            assert_eq!(
                reply.status, 415,
                "POST {route} as text/plain: {}",
                reply.text
            );
        }
        exercised.insert(format!("POST {}", generic(route)));
    }

    let in_document: BTreeSet<String> = contract
        .operations()
        .iter()
        .map(|op| format!("{} {}", op.method.to_uppercase(), generic(&op.template)))
        .collect();
    assert_eq!(
        exercised, in_document,
        "every operation of the document, exercised"
    );
    let missing: Vec<_> = documented_routes()
        .difference(&in_document)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "docs/api.md names routes the document lacks: {missing:?}"
    );
}
