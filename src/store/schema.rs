//! One schema for both backends: only portable column types (see migrations/).

diesel::table! {
    callbacks (id) {
        id -> BigInt,
        source -> Text,
        delivery_key -> Text,
        callback_id -> Text,
        event -> Text,
        workflow_name -> Nullable<Text>,
        status -> Nullable<Text>,
        error_message -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        body -> Binary,
        body_sha256 -> Text,
        preview -> Text,
        payload_size -> Integer,
        signature_verdict -> Text,
        signature_scheme -> Text,
        signature_header -> Text,
        secret_label -> Text,
        verified_at -> Timestamp,
        received_at -> Timestamp,
        remote_addr -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        content_type -> Nullable<Text>,
    }
}

diesel::table! {
    rejections (id) {
        id -> BigInt,
        rejected_at -> Timestamp,
        reason -> Text,
        http_status -> Integer,
        source -> Text,
        remote_addr -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        content_length -> Nullable<BigInt>,
        body_bytes -> Nullable<BigInt>,
        headers_present -> Text,
    }
}
