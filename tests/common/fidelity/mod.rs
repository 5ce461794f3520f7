//! Vendor fidelity: vendor answers generated at random from a vendor's own OpenAPI spec
//! (`specs/`, read at test time, so a spec change is caught), served by mock vendors and
//! read through the whole gateway (`checks.rs`). Each vendor lists the endpoints creditgate
//! reads in `tests/fidelity/<vendor>.rs`; its conformance tests run the checks on them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use wiremock::{Request, Respond, ResponseTemplate};

pub mod checks;

/// A small deterministic generator (xorshift64*): the same seed, the same payloads.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub fn load(file: &str) -> Arc<Value> {
    let text = std::fs::read_to_string(format!("{}/specs/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Arc::new(serde_json::from_str(&text).unwrap())
}

/// Follows a local `$ref`; `None` for a reference the trimmed spec leaves dangling.
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The JSON body schema of `method path`'s 200 answer.
pub fn answer_schema(doc: &Value, path: &str, method: &str) -> Value {
    let mut answer = &doc["paths"][path][method]["responses"]["200"];
    if let Some(reference) = answer["$ref"].as_str() {
        answer = resolve(doc, reference).unwrap();
    }
    let schema = answer["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "no JSON 200 answer for {method} {path}");
    schema
}

pub fn number(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

/// Text for a string the spec gives no format: mostly numbers (vendors put amounts in
/// such strings), then names and codes, and now and then empty, blank or unicode text.
pub fn text(rng: &mut Rng) -> Value {
    let n = rng.next() % 100_000;
    let roll = rng.below(100);
    let text = match roll {
        0..=49 => rng
            .pick(&[
                format!("{n}"),
                format!("{}.{:02}", n, n % 100),
                format!("-{n}.5"),
                "0".into(),
            ])
            .clone(),
        50..=69 => format!("gen_{n}"),
        70..=79 => rng.pick(&["USD", "credits", "API calls"]).to_string(),
        80..=84 => String::new(),
        85..=89 => " ".into(),
        90..=94 => "Ünïcødé ✓ 日本".into(),
        _ => "0.000000001".into(),
    };
    json!(text)
}

/// A string the spec gives no format. Where the field's name says what vendors put in it
/// (a date, an amount) that is what it holds most of the time; otherwise, and now and then
/// regardless, any text.
pub fn unformatted(name: &str, rng: &mut Rng) -> Value {
    let lower = name.to_ascii_lowercase();
    let dated = lower.contains("date") || lower.ends_with("at") || lower.contains("time");
    let amount = ["amount", "balance", "cost", "price", "quantity", "value"]
        .iter()
        .any(|word| lower.contains(word));
    if dated && rng.chance(85) {
        timestamp(rng, lower.contains("date"))
    } else if amount && rng.chance(85) {
        json!(format!("{}.{:02}", rng.next() % 100_000, rng.next() % 100))
    } else {
        text(rng)
    }
}

pub fn timestamp(rng: &mut Rng, date_only: bool) -> Value {
    let (year, month, day) = (1970 + rng.below(130), 1 + rng.below(12), 1 + rng.below(28));
    if date_only {
        return json!(format!("{year:04}-{month:02}-{day:02}"));
    }
    let offset = rng.pick(&["Z", "+00:00", "+05:30", "-08:00"]);
    let fraction = rng.pick(&["", ".5", ".123456"]);
    json!(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}{offset}",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    ))
}

/// A value the schema allows: optional fields present or absent, nulls where nullable,
/// every enum value plus unknown ones, either branch of `anyOf`/`oneOf` (expanded or not),
/// extra properties, boundary numbers.
pub fn generate(doc: &Value, schema: &Value, rng: &mut Rng, depth: usize, name: &str) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        return match resolve(doc, reference) {
            Some(target) => generate(doc, target, rng, depth + 1, name),
            // A dangling reference (Stripe's `customer`, `invoice`): the unexpanded id.
            None => json!(format!("obj_{}", rng.next() % 10_000)),
        };
    }
    if schema["nullable"] == true && rng.chance(15) {
        return Value::Null;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            let branch = rng.pick(branches).clone();
            return generate(doc, &branch, rng, depth + 1, name);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            match generate(doc, part, rng, depth + 1, name) {
                Value::Object(fields) => merged.extend(fields),
                other if parts.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    if let Some(values) = schema["enum"].as_array() {
        if values.iter().all(Value::is_string) && rng.chance(10) {
            return json!("zz_value_the_spec_adds_later");
        }
        return rng.pick(values).clone();
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => rng.pick(types).as_str().unwrap_or("string").to_owned(),
        _ if schema.get("properties").is_some() => "object".to_owned(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "null" => Value::Null,
        "boolean" => json!(rng.chance(50)),
        "integer" => {
            let (lo, hi) = (schema["minimum"].as_i64(), schema["maximum"].as_i64());
            let candidates = [
                0,
                1,
                -1,
                50,
                1000 + (rng.next() % 1_000_000) as i64,
                1_726_619_434,
                9_007_199_254_740_993,
                i64::MAX,
            ];
            let n = *rng.pick(&candidates);
            json!(n.clamp(lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX)))
        }
        "number" => {
            let ordinary = [
                "0",
                "1",
                "-1.5",
                "12.345678901",
                "100",
                "0.5",
                "1234567.89",
                "-21528918.92616178",
            ];
            let text = match rng.below(100) {
                // Beyond what 28 significant digits hold: a listed reason, kept rare.
                0..=2 => "99999999999999999999999999999999",
                3..=5 => "0.000000000000000000000000000001",
                _ => *rng.pick(&ordinary),
            };
            number(text)
        }
        "array" => {
            let len = *rng.pick(&[0, 1, 1, 2, 2, 3]);
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            Value::Array((0..len).map(|_| generate(doc, &items, rng, depth + 1, name)).collect())
        }
        "object" => {
            let mut object = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    if required.contains(&name.as_str()) || rng.chance(60) {
                        let value = if name == "id" && property["type"] == "string" && rng.chance(90) {
                            // Ids are mostly unique, as a vendor's are; now and then any text.
                            json!(format!("id_{}", rng.next() % 1_000_000_000))
                        } else {
                            generate(doc, property, rng, depth + 1, name)
                        };
                        object.insert(name.clone(), value);
                    }
                }
            }
            if rng.chance(20) {
                object.insert("x_property_the_spec_adds_later".into(), text(rng));
            }
            Value::Object(object)
        }
        _ => match schema["format"].as_str() {
            Some("date-time") => timestamp(rng, false),
            Some("date") => timestamp(rng, true),
            Some("uuid") => json!(format!("00000000-0000-4000-8000-{:012}", rng.next() % 1_000_000)),
            _ => unformatted(name, rng),
        },
    }
}

/// Serves a fresh generated answer to every request, and remembers the last ones.
pub struct Generated {
    pub doc: Arc<Value>,
    pub schema: Value,
    pub seed: u64,
    pub calls: AtomicU64,
    pub served: Arc<Mutex<Vec<Value>>>,
}

impl Respond for Generated {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut rng = Rng(self.seed ^ (call + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let payload = generate(&self.doc, &self.schema, &mut rng, 0, "");
        self.served.lock().unwrap().push(payload.clone());
        ResponseTemplate::new(200).set_body_json(payload)
    }
}

/// Lets the test read a responder's call count after wiremock took it.
pub struct SharedResponder(pub Arc<Generated>);

impl Respond for SharedResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// A mock path served from a spec: (vendor, HTTP method, path regex, spec path, spec
/// method).
pub type MockSpec = (&'static str, &'static str, String, &'static str, &'static str);

pub fn mock(
    server: &'static str,
    verb: &'static str,
    regex: &str,
    spec_path: &'static str,
    spec_method: &'static str,
) -> MockSpec {
    (server, verb, regex.to_owned(), spec_path, spec_method)
}

/// One vendor endpoint creditgate reads, the mock paths it answers and the client requests
/// that read it.
pub struct Endpoint {
    pub name: &'static str,
    /// Seeds the generated answers (fixed, so a failure can be replayed).
    pub seed: u64,
    pub spec: Arc<Value>,
    pub mocks: Vec<MockSpec>,
    /// Answers that are not generated (Vayu's login): (vendor, HTTP method, path, body).
    pub fixed: Vec<(&'static str, &'static str, &'static str, Value)>,
    pub requests: Vec<String>,
}
