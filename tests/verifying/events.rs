//! Parsing the Gemini envelope into `GeminiEvent`.

use gemini_webhooks::event::{ErrorCode, UnknownEvent};
use gemini_webhooks::{EventError, GeminiEvent};
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<GeminiEvent, EventError> {
    GeminiEvent::from_slice(value.to_string().as_bytes())
}

fn envelope(event_type: &str, data: serde_json::Value) -> serde_json::Value {
    json!({
        "type": event_type,
        "version": "v1",
        "timestamp": "2026-03-04T05:06:07.5+01:00",
        "data": data,
    })
}

/// 2026-03-04 05:06:07.5 +01:00, the envelopes' timestamp.
fn march_4th() -> time::OffsetDateTime {
    let date = time::Date::from_calendar_date(2026, time::Month::March, 4).unwrap();
    let clock = time::Time::from_hms_milli(5, 6, 7, 500).unwrap();
    let offset = time::UtcOffset::from_hms(1, 0, 0).unwrap();
    time::PrimitiveDateTime::new(date, clock).assume_offset(offset)
}

#[test]
fn all_ten_types_parse_with_their_fields() {
    let id = json!({"id": "res/1"});
    for &event_type in GeminiEvent::KNOWN_TYPES {
        let event = parse(envelope(event_type, id.clone())).unwrap();
        assert_eq!(event.event_type(), event_type);
        assert_eq!(event.resource_id(), Some("res/1"));
        assert_eq!(event.timestamp(), Some(march_4th()));
        assert!(!matches!(event, GeminiEvent::Unknown(_)), "{event_type}");
    }
    // Gemini's nine, and `video.failed`, which only a reconciler delivers.
    assert_eq!(GeminiEvent::KNOWN_TYPES.len(), 10);
    assert!(GeminiEvent::KNOWN_TYPES.contains(&"video.failed"));

    let GeminiEvent::BatchSucceeded(ok) = parse(envelope(
        "batch.succeeded",
        json!({"id": "batches/1", "output_file_uri": "files/out"}),
    ))
    .unwrap() else {
        panic!("not batch.succeeded")
    };
    assert_eq!(ok.version, "v1");
    assert_eq!(ok.data.output_file_uri.as_deref(), Some("files/out"));

    for (event_type, code, expected) in [
        ("batch.failed", json!(3), ErrorCode::Number(3)),
        (
            "interaction.failed",
            json!("INTERNAL"),
            ErrorCode::Text("INTERNAL".into()),
        ),
    ] {
        let event = parse(envelope(
            event_type,
            json!({"id": "x", "error_code": code, "error_message": "boom"}),
        ))
        .unwrap();
        let failure = match event {
            GeminiEvent::BatchFailed(e) | GeminiEvent::InteractionFailed(e) => e.data,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(failure.error_code, Some(expected));
        assert_eq!(failure.error_message.as_deref(), Some("boom"));
    }
}

#[test]
fn video_generated_accepts_current_and_older_fields() {
    let current = parse(envelope(
        "video.generated",
        json!({"id": "op/1", "video_uri": "gs://v"}),
    ))
    .unwrap();
    let older = parse(envelope(
        "video.generated",
        json!({"id": "op/1", "output_file_uri": "files/v", "file_name": "files/v"}),
    ))
    .unwrap();
    let (GeminiEvent::VideoGenerated(current), GeminiEvent::VideoGenerated(older)) =
        (current, older)
    else {
        panic!("not video.generated")
    };
    assert_eq!(current.data.uri(), Some("gs://v"));
    assert_eq!(older.data.uri(), Some("files/v"));
    assert_eq!(older.data.file_name.as_deref(), Some("files/v"));
}

#[test]
fn user_metadata_is_found_at_top_level_or_in_data() {
    let mut top = envelope("batch.expired", json!({"id": "b"}));
    top["user_metadata"] = json!({"job": "nightly"});
    let inside = envelope(
        "batch.expired",
        json!({"id": "b", "user_metadata": {"job": "hourly"}}),
    );
    let none = envelope("batch.expired", json!({"id": "b"}));

    let job = |event: &GeminiEvent| {
        event
            .user_metadata()
            .and_then(|m| m.get("job"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    assert_eq!(job(&parse(top).unwrap()).as_deref(), Some("nightly"));
    assert_eq!(job(&parse(inside).unwrap()).as_deref(), Some("hourly"));
    assert_eq!(parse(none).unwrap().user_metadata(), None);
}

#[test]
fn unknown_types_and_fields_are_kept_not_refused() {
    let mut value = envelope("model.tuned", json!({"id": "m/1", "score": 0.9}));
    value["brand_new_field"] = json!(true);
    let event = parse(value).unwrap();
    let GeminiEvent::Unknown(UnknownEvent {
        event_type, data, ..
    }) = &event
    else {
        panic!("expected Unknown")
    };
    assert_eq!(event_type, "model.tuned");
    assert_eq!(data["score"], json!(0.9));
    assert_eq!(event.resource_id(), Some("m/1"));

    let mut known = envelope(
        "interaction.completed",
        json!({"id": "i/1", "extra": [1, 2]}),
    );
    known["extra_top"] = json!({});
    assert_eq!(parse(known).unwrap().event_type(), "interaction.completed");
}

#[test]
fn errors_name_the_path_and_never_quote_the_body() {
    let secretish = "sk-live-do-not-echo";
    let cases = [
        (envelope("batch.succeeded", json!({"id": 5})), "data.id"),
        (
            envelope(
                "batch.failed",
                json!({"id": "x", "error_message": {"k": secretish}}),
            ),
            "data.error_message",
        ),
        (envelope("batch.cancelled", json!({})), "data"),
        (
            json!({"type": "batch.cancelled", "timestamp": secretish, "data": {"id": "x"}}),
            "timestamp",
        ),
        (json!({"version": "v1"}), "."),
    ];
    for (value, path) in cases {
        let err = parse(value.clone()).unwrap_err();
        assert_eq!(err.path(), path, "{value}");
        assert_eq!(err.status(), 422);
        assert!(!err.to_string().contains(secretish), "{err}");
        assert!(!err.to_string().contains("\"x\""), "{err}");
    }
    let missing = parse(envelope("batch.cancelled", json!({}))).unwrap_err();
    assert!(
        missing.to_string().contains("missing field `id`"),
        "{missing}"
    );

    for body in [
        &b"{\"type\": "[..],
        b"not json",
        b"{} trailing",
        b"\xff\xfe",
    ] {
        let err = GeminiEvent::from_slice(body).unwrap_err();
        assert_eq!(err.status(), 422);
    }
}

#[test]
fn deserialize_impl_matches_from_slice() {
    let value = envelope("batch.succeeded", json!({"id": "batches/9"}));
    let via_serde: GeminiEvent = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(via_serde, parse(value).unwrap());
    assert!(serde_json::from_value::<GeminiEvent>(envelope("batch.succeeded", json!({}))).is_err());
}

#[test]
fn a_known_event_without_an_envelope_timestamp_parses() {
    let event =
        GeminiEvent::from_slice(br#"{"type":"batch.expired","data":{"id":"batches/9"}}"#).unwrap();
    let GeminiEvent::BatchExpired(expired) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(expired.data.id, "batches/9");
    assert_eq!(expired.timestamp, None);
    assert_eq!(event.timestamp(), None);
}
