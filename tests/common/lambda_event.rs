//! A Lambda event carrying one delivery: a fixture of
//! `tests/fixtures/lambda/` with the delivery's `webhook-*` headers, its
//! body (base64-encoded when `base64`, as AWS sends a body it takes for
//! binary) and `isBase64Encoded`. Shared by `tests/lambda.rs` and
//! `harness/benches/lambda.rs` (which includes this file by path).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use serde_json::{Value, json};

/// The fixture `name` (`apigw_v2`, `function_url`), parsed.
pub fn fixture(name: &str) -> Value {
    // The crate's own tests run in the repository's root, the harness's
    // benchmarks one level down.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = [root, &root.join("..")]
        .iter()
        .map(|dir| {
            dir.join("tests/fixtures/lambda")
                .join(format!("{name}.json"))
        })
        .find(|path| path.exists())
        .expect("the Lambda fixtures");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `template` carrying `body` and `headers`.
pub fn with_delivery(template: &Value, headers: &HeaderMap, body: &[u8], base64: bool) -> Value {
    let mut event = template.clone();
    for (name, value) in headers {
        event["headers"][name.as_str()] = json!(value.to_str().unwrap());
    }
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["body"] = if base64 {
        json!(STANDARD.encode(body))
    } else {
        json!(std::str::from_utf8(body).expect("a text body is UTF-8"))
    };
    event["isBase64Encoded"] = json!(base64);
    event
}
