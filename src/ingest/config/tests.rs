use super::*;
use crate::ingest::mapping::Mapping;
use crate::ingest::presets::Preset;
use crate::ingest::scheme::Scheme;
use crate::ingest::source::IdempotencyRule;

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn loader(dir: &Path, text: &str) -> SourcesLoader {
    let path = dir.join("hookbox.toml");
    std::fs::write(&path, text).expect("write config");
    SourcesLoader {
        config: Some(path),
        default_secret: DefaultSecret {
            inline: Some("default:default-secret-0123456789".into()),
            file: None,
            data_dir: dir.to_owned(),
            generation: Generation::Never,
        },
    }
}

fn load(text: &str) -> Result<Vec<Source>, LoadError> {
    let dir = tempfile::tempdir().expect("temp dir");
    loader(dir.path(), text).load()
}

fn config_error(text: &str) -> ConfigError {
    match load(text) {
        Err(LoadError::Config(error)) => error,
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("expected a config error for\n{text}"),
    }
}

#[test]
fn one_line_presets_with_a_secret_are_enough() {
    let sources = load(&format!(
        r#"
[sources.openai]
preset = "openai"
secrets = [{{ label = "current", value = "{SW_SECRET}" }}]

[sources.replicate]
preset = "replicate"
secrets = [{{ label = "a", value = "{SW_SECRET}" }}]
replay_tolerance_secs = 60

[sources.llm-callback]
preset = "llm-callback"
"#
    ))
    .expect("valid");
    let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["llm-callback", "openai", "replicate"]);
    let openai = &sources[1];
    assert_eq!(openai.scheme.name(), "standard-webhooks");
    assert_eq!(openai.preset, Some(Preset::OpenAi));
    assert_eq!(openai.body_limit, 1 << 20);
    assert_eq!(openai.scheme.secrets().first().label().as_str(), "current");
    assert_eq!(
        openai.scheme.secrets().first().key().len(),
        24,
        "whsec_ is base64-decoded"
    );
    assert!(
        matches!(sources[2].scheme, Scheme::StandardWebhooks { tolerance, .. } if tolerance.as_secs() == 60)
    );
    let llm = &sources[0];
    assert_eq!(
        llm.scheme.secrets().first().label().as_str(),
        "default",
        "llm-callback without secrets uses the server default"
    );
    assert!(matches!(llm.mapping, Mapping::LlmCallback));
}

#[test]
fn a_custom_hmac_source_takes_header_prefix_fields_limit_and_key_rule() {
    std::env::set_var("HOOKBOX_TEST_BUILDS_SECRET", "from-the-environment-0123");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("builds.secret"), "from-a-file-0123456789\n").expect("write");
    let sources = loader(
        dir.path(),
        r#"
[sources.builds]
scheme = "hmac-sha256-hex"
signature_header = "X-Hub-Signature-256"
signature_prefix = ""
body_limit_bytes = 4096
idempotency_key = "header:x-github-delivery"
secrets = [
  { label = "env", env = "HOOKBOX_TEST_BUILDS_SECRET" },
  { label = "file", file = "builds.secret" },
]
[sources.builds.fields]
job_id = ["/build/id", "/id"]
event = "build.{/action}"
status = "/build/status"
"#,
    )
    .load()
    .expect("valid");
    let builds = &sources[0];
    assert_eq!(builds.body_limit, 4096);
    let keys: Vec<_> = builds
        .scheme
        .secrets()
        .iter()
        .map(|s| s.key().to_vec())
        .collect();
    assert_eq!(
        keys,
        [
            b"from-the-environment-0123".to_vec(),
            b"from-a-file-0123456789".to_vec()
        ]
    );
    assert!(
        matches!(&builds.scheme, Scheme::HmacSha256Hex { header, prefixed: false, .. } if header == "x-hub-signature-256")
    );
    assert!(matches!(builds.idempotency, IdempotencyRule::Header(_)));
}

#[test]
fn a_secret_written_where_a_table_belongs_is_not_repeated_in_the_error() {
    for text in [
        "[sources.a]\npreset = \"openai\"\nsecrets = [\"whsec_SECRETVALUE\"]\n",
        "[sources.a]\npreset = \"openai\"\nsecrets = \"whsec_SECRET\\\"VALUE\"\n",
        "[sources.a]\npreset = \"openai\"\nsecrets = [{ label = \"x\", value = \"whsec_QUJD\" }, \"SECRETVALUE\"]\n",
    ] {
        let error = config_error(text);
        assert!(error.field.starts_with("sources.a.secrets"), "{error}");
        assert!(error.message.contains("invalid type"), "{error}");
        assert!(!error.to_string().contains("SECRET"), "{error}\nfor\n{text}");
    }
    // Elsewhere the value met stays in the message: it helps and is no secret.
    let error = config_error("[sources.a]\npreset = \"openai\"\nbody_limit_bytes = \"1MB\"\n");
    assert!(error.message.contains("\"1MB\""), "{error}");
}

#[test]
fn errors_name_the_file_line_and_field() {
    let cases: &[(&str, usize, &str, &str)] = &[
        ("[sources.a]\npreset = \"stripe\"\n", 2, "sources.a.preset", "unknown preset"),
        ("[sources.a]\npreset = \"openai\"\nsecret = []\n", 3, "sources.a", "unknown field `secret`"),
        ("[sources.a]\npreset = \"openai\"\nbody_limit_bytes = \"1MB\"\n", 3, "sources.a.body_limit_bytes", "invalid type"),
        ("[sources.a]\npreset = \"openai\"\nsecrets = [{ label = \"x\", env = \"HOOKBOX_TEST_UNSET_VAR\" }]\n", 3, "sources.a.secrets[0].env", "HOOKBOX_TEST_UNSET_VAR is not set"),
        ("[sources.a]\npreset = \"openai\"\nsecrets = [{ label = \"x\", value = \"not base64!\" }]\n", 3, "sources.a.secrets[0]", "whsec_"),
        ("[sources.a]\npreset = \"openai\"\n", 1, "sources.a.secrets", "at least one secret"),
        ("\n[sources.a]\nscheme = \"hmac-sha256-hex\"\nsecrets = [{ label = \"x\", value = \"s\" }]\n[sources.a.fields]\njob_id = \"/id\"\nevent = \"{/type\"\n", 7, "sources.a.fields.event", "unclosed"),
        ("[sources.a]\nscheme = \"hmac-sha256-hex\"\nsecrets = [{ label = \"x\", value = \"s\" }]\n", 1, "sources.a.fields", "job_id and event"),
        ("[sources.A]\npreset = \"llm-callback\"\n", 1, "sources.A", "source name"),
        ("[sources.a]\npreset = \"llm-callback\"\nreplay_tolerance_secs = 10\n", 3, "sources.a.replay_tolerance_secs", "no timestamp"),
        ("[sources.a]\npreset = \"openai\"\nscheme = \"hmac-sha256-hex\"\n", 3, "sources.a.scheme", "another scheme"),
        ("[sources.a]\npreset = \"openai\"\nidempotency_key = \"random\"\nsecrets = [{ label = \"x\", value = \"whsec_QUJD\" }]\n", 3, "sources.a.idempotency_key", "not an idempotency rule"),
        ("[sources.a\n", 1, "(file)", ""),
        ("", 1, "sources", "declare at least one source"),
    ];
    for (text, line, field, message) in cases {
        let error = config_error(text);
        assert!(error.file.ends_with("hookbox.toml"), "{error}");
        assert_eq!(
            (error.line, error.field.as_str()),
            (*line, *field),
            "{error}\nfor\n{text}"
        );
        assert!(error.message.contains(message), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}:{line}:", error.file.display())),
            "{error}"
        );
    }
}

#[test]
fn without_a_file_there_is_the_llm_callback_source_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let loader = SourcesLoader {
        config: None,
        default_secret: DefaultSecret {
            inline: Some("k:abcdefghijklmnop".into()),
            file: None,
            data_dir: dir.path().to_owned(),
            generation: Generation::Never,
        },
    };
    let sources = loader.load().expect("valid");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].name, "llm-callback");
    assert_eq!(sources[0].scheme.name(), "hmac-sha256-hex");
}

#[test]
fn a_reload_never_generates_a_secret_in_place_of_one_that_has_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = SourcesLoader {
        config: None,
        default_secret: DefaultSecret {
            inline: None,
            file: None,
            data_dir: dir.path().to_owned(),
            generation: Generation::until_one_existed(),
        },
    };
    server.load().expect("generates one at the first start");
    let generated = dir.path().join("webhook-secret");
    std::fs::remove_file(&generated).expect("generated");
    assert!(server.clone().load().is_err(), "a reload fails");
    assert!(
        !generated.exists(),
        "no new secret behind the senders' back"
    );
}

#[test]
fn a_reload_that_adds_a_source_without_a_secret_generates_one_if_none_existed_yet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let own_secret = "[sources.a]\nscheme = \"hmac-sha256-hex\"\n\
                      secrets = [{ label = \"x\", value = \"a-secret-0123456789\" }]\n\
                      [sources.a.fields]\njob_id = \"/id\"\nevent = \"/type\"\n";
    let mut server = loader(dir.path(), own_secret);
    server.default_secret.inline = None;
    server.default_secret.generation = Generation::until_one_existed();
    assert_eq!(server.load().expect("every source has its secret").len(), 1);
    let path = server.config.clone().expect("a file");
    let added = format!("{own_secret}[sources.llm-callback]\npreset = \"llm-callback\"\n");
    std::fs::write(&path, added).expect("write");
    assert_eq!(
        server.load().expect("generated, as at a first start").len(),
        2
    );
    let generated = dir.path().join("webhook-secret");
    assert!(generated.exists());
    // From now on it is the one the senders were given: gone, it is not generated again.
    std::fs::remove_file(&generated).expect("generated");
    assert!(server.load().is_err());
    assert!(!generated.exists());
}

#[test]
fn the_documented_example_file_is_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let example = include_str!("../../../docs/hookbox.example.toml");
    std::fs::write(
        dir.path().join("replicate-new.secret"),
        "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY\n",
    )
    .expect("write");
    for (var, value) in [
        ("OPENAI_WEBHOOK_SECRET", SW_SECRET),
        ("REPLICATE_WEBHOOK_SECRET_OLD", SW_SECRET),
        ("BUILDS_WEBHOOK_SECRET", "builds-secret-0123456789"),
    ] {
        std::env::set_var(var, value);
    }
    let sources = loader(dir.path(), example)
        .load()
        .expect("the example loads");
    let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["builds", "llm-callback", "openai", "replicate"]);
}
