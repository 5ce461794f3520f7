//! The config's parsing and validation, on small files.
use super::*;

const EXAMPLE_CONFIG: &str = r#"
listen = "127.0.0.1:8080"
cursor_secret = "env:CREDITGATE_CURSOR_SECRET"   # "env:NAME" or "file:/path"

[[api_keys]]
name = "billing-app"
key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

[providers.stripe]
base_url = "https://api.stripe.com"
secret = "env:STRIPE_API_KEY"

[providers.metronome]
secret = "env:METRONOME_TOKEN"

[providers.sequence]
secret = "env:SEQUENCE_CREDENTIALS"   # clientId:clientSecret

[providers.togai]
secret = "env:TOGAI_API_KEY"

[providers.vayu]
secret = "env:VAYU_REFRESH_TOKEN"
unit = "USD"

[providers.lago]
secret = "env:LAGO_API_KEY"

[customers.acme]
stripe = "cus_123"
vayu = "65f0c0ffee0123456789abcd"
"#;

#[test]
fn the_design_example_parses() {
    let c = Config::from_toml_str(EXAMPLE_CONFIG).unwrap();
    assert_eq!(c.providers.configured(), ProviderKind::ALL.to_vec());
    assert_eq!(c.cursor_secret, SecretRef::Env("CREDITGATE_CURSOR_SECRET".into()));
    assert_eq!(c.providers.vayu.as_ref().unwrap().unit.as_deref(), Some("USD"));
    let acme = c.customers.get("acme").unwrap();
    assert_eq!(
        acme.0,
        vec![
            (ProviderKind::Stripe, "cus_123".to_owned()),
            (ProviderKind::Vayu, "65f0c0ffee0123456789abcd".to_owned())
        ]
    );
}

#[test]
fn customer_maps_keep_file_order() {
    let text = EXAMPLE_CONFIG.replace(
        "stripe = \"cus_123\"\nvayu = \"65f0c0ffee0123456789abcd\"",
        "vayu = \"65f0c0ffee0123456789abcd\"\nstripe = \"cus_123\"",
    );
    let c = Config::from_toml_str(&text).unwrap();
    let order: Vec<_> = c.customers.get("acme").unwrap().0.iter().map(|(p, _)| *p).collect();
    assert_eq!(order, vec![ProviderKind::Vayu, ProviderKind::Stripe]);
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = EXAMPLE_CONFIG.replace("unit = \"USD\"", "unit = \"USD\"\npage_sise = 10");
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("providers.vayu"), "{err}");
    assert!(err.contains("page_sise"), "{err}");
    let err = Config::from_toml_str(&format!("{EXAMPLE_CONFIG}\nlisten_addr = \"x\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen_addr"), "{err}");
}

#[test]
fn relative_secret_files_are_next_to_the_config() {
    let dir = std::env::temp_dir().join(format!("creditgate-relative-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let path = dir.join("gateway.toml");
    let keys = "[[api_keys]]\nname = \"a\"\nkey_sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n";
    let text = format!("cursor_secret = \"file:keys/cursor\"\n{keys}[providers.vayu]\nsecret = \"file:/abs/vayu\"\n");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(config.cursor_secret, SecretRef::File(dir.join("keys/cursor")));
    assert_eq!(
        config.providers.vayu.unwrap().secret,
        SecretRef::File("/abs/vayu".into())
    );
    // Parsed text alone (no file): as written.
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.cursor_secret, SecretRef::File("keys/cursor".into()));
}

#[test]
fn toml_errors_say_their_line_and_column_and_a_duplicate_key_its_name() {
    let err = Config::from_toml_str("listen = \"a\"\nlisten = \"b\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2, column 1: duplicate key `listen`"), "{err}");
    let err = Config::from_toml_str("cursor_secret = \"env:X\"\n[providers.stripe\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2, column"), "{err}");
}

#[test]
fn plaintext_secrets_are_refused_without_echoing_them() {
    let text = EXAMPLE_CONFIG.replace("env:STRIPE_API_KEY", "sk_live_supersecret");
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("providers.stripe.secret"), "{err}");
    assert!(!err.contains("supersecret"), "{err}");
}

#[test]
fn aliases_must_name_configured_providers() {
    let text = EXAMPLE_CONFIG.replace(
        "[providers.vayu]\nsecret = \"env:VAYU_REFRESH_TOKEN\"\nunit = \"USD\"\n",
        "",
    );
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("customers.acme.vayu"), "{err}");
    let text = EXAMPLE_CONFIG.replace("vayu = \"65f0", "paypal = \"65f0");
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("unknown provider `paypal`"), "{err}");
}

#[test]
fn key_digests_are_checked() {
    let text = EXAMPLE_CONFIG.replace(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "9f86d08188",
    );
    let err = Config::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("api_keys[0].key_sha256"), "{err}");
}

/// The keys serde accepts where `text` has its one `zz_unknown_key`, read from serde's
/// own "unknown field ..., expected one of ..." message.
fn accepted_keys(text: &str) -> Vec<String> {
    let err = Config::from_toml_str(text).unwrap_err().to_string();
    let list = err.split("expected one of ").nth(1).unwrap_or_else(|| panic!("{err}"));
    let mut keys: Vec<String> = list.split(", ").map(|k| k.trim_matches('`').to_owned()).collect();
    keys.sort();
    keys
}

/// The design example with an unknown key inside the table `header`.
fn unknown_in(header: &str) -> String {
    assert!(EXAMPLE_CONFIG.contains(header), "{header}");
    EXAMPLE_CONFIG.replace(header, &format!("{header}\nzz_unknown_key = 1"))
}

fn schema_keys(schema: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn json_schema_lists_exactly_the_accepted_keys() {
    let schema = json_schema();
    let top = &schema["properties"];
    let providers = &top["providers"]["properties"];
    assert_eq!(
        accepted_keys(&format!("zz_unknown_key = 1\n{EXAMPLE_CONFIG}")),
        schema_keys(&schema)
    );
    assert_eq!(
        accepted_keys(&unknown_in("[[api_keys]]")),
        schema_keys(&top["api_keys"]["items"])
    );
    assert_eq!(
        accepted_keys(&unknown_in("[providers.stripe]")),
        schema_keys(&providers["stripe"])
    );
    assert_eq!(
        accepted_keys(&unknown_in("[providers.metronome]")),
        schema_keys(&providers["metronome"])
    );
    assert_eq!(
        accepted_keys(&unknown_in("[providers.vayu]")),
        schema_keys(&providers["vayu"])
    );
    assert_eq!(
        accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream]\nzz_unknown_key = 1\n")),
        schema_keys(&top["upstream"])
    );
    assert_eq!(
        accepted_keys(&unknown_in("[providers.togai]")),
        schema_keys(&providers["togai"])
    );
    assert_eq!(
        accepted_keys(&format!("{EXAMPLE_CONFIG}\n[inbound]\nzz_unknown_key = 1\n")),
        schema_keys(&top["inbound"])
    );
    assert_eq!(
        accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream.retry]\nzz_unknown_key = 1\n")),
        schema_keys(&top["upstream"]["properties"]["retry"])
    );
    assert_eq!(
        accepted_keys(&format!("{EXAMPLE_CONFIG}\n[upstream.breaker]\nzz_unknown_key = 1\n")),
        schema_keys(&top["upstream"]["properties"]["breaker"])
    );
    let mut kinds: Vec<String> = ProviderKind::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    kinds.sort();
    assert_eq!(schema_keys(&top["providers"]), kinds);
}

#[test]
fn checked_in_json_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/config.schema.json");
    let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        checked_in == json_schema(),
        "schemas/config.schema.json is stale: run `cargo run -- config-schema > schemas/config.schema.json`"
    );
}
