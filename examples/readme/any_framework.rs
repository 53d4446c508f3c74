use gemini_webhooks::testing::{Signer, generate_secret, sample_event};
use gemini_webhooks::{GeminiEvent, Verifier};
use http::HeaderMap;

/// Call from your framework's handler with the request's headers and raw
/// body; answer with the status returned.
fn receive(verifier: &Verifier, headers: &HeaderMap, body: &[u8]) -> u16 {
    let delivery = match verifier.verify(headers, body) {
        Ok(delivery) => delivery,
        Err(rejected) => return rejected.status().as_u16(), // 400, 401 or 503
    };
    match delivery.event() {
        Ok(GeminiEvent::VideoGenerated(video)) => println!("video ready at {:?}", video.data.uri()),
        Ok(other) => println!("{} about {:?}", other.event_type(), other.resource_id()),
        Err(not_an_event) => return not_an_event.status().as_u16(), // 422
    }
    200
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = generate_secret();
    let verifier = Verifier::builder().secret(&secret)?.build()?; // once, at start-up

    // A delivery signed here as Gemini would sign it (feature `test-util`).
    let body = sample_event("video.generated");
    let headers = Signer::hmac(&secret)?.sign(&body);
    assert_eq!(receive(&verifier, &headers, &body), 200);
    assert_eq!(receive(&verifier, &headers, b"{\"tampered\":true}"), 401);
    Ok(())
}
