pub fn openapi_document() -> serde_json::Value {
    serde_json::json!({})
}
