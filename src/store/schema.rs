//! One schema for both backends: only portable column types (see migrations/). Postgres's
//! `callbacks` has one more column, `delivery_digest`, its idempotency key: only the Postgres
//! batch insert writes it and only the duplicate lookup reads it (store/delivery_digest.rs).

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

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        is_disabled -> Bool,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    callback_views (user_id, callback_id) {
        user_id -> BigInt,
        callback_id -> BigInt,
        viewed_at -> Timestamp,
    }
}

diesel::table! {
    view_marks (user_id, up_to) {
        user_id -> BigInt,
        up_to -> BigInt,
        viewed_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(callback_views -> callbacks (callback_id));
diesel::allow_tables_to_appear_in_same_query!(
    callbacks,
    users,
    sessions,
    api_tokens,
    callback_views,
    view_marks
);
