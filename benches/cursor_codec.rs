//! The signed cursor: encoded for every page with more, decoded and checked for every
//! request that carries one.

use creditgate::model::ProviderKind;
use creditgate::paging::cursor::{filter_hash, CursorCodec, CursorScope, Position};
use creditgate::secret::Secret;
use criterion::{criterion_group, criterion_main, Criterion};

fn cursor_codec(c: &mut Criterion) {
    let codec = CursorCodec::new(&Secret::new("bench-cursor-secret"));
    let scope = CursorScope {
        tenant: "acme-app".into(),
        endpoint: "credit_ledger_entries".into(),
        customer: "acme".into(),
        filters: filter_hash(&[("grant", None), ("provider", Some("togai"))]),
    };
    let position = Position::Forward {
        token: Some("eyJwYWdlIjoxMiwibGFzdCI6ImNyZWQuMXpuUUJPVmNhaTAuMHRCRnoifQ==".into()),
        offset: 37,
    };
    let cursor = codec.encode(&scope, ProviderKind::Togai, &position);
    c.bench_function("cursor_codec/encode", |b| {
        b.iter(|| codec.encode(std::hint::black_box(&scope), ProviderKind::Togai, &position))
    });
    c.bench_function("cursor_codec/decode", |b| {
        b.iter(|| codec.decode(&scope, std::hint::black_box(&cursor)).unwrap())
    });
    let mut tampered = cursor.clone().into_bytes();
    tampered[10] ^= 1;
    let tampered = String::from_utf8(tampered).unwrap();
    c.bench_function("cursor_codec/decode_tampered", |b| {
        b.iter(|| codec.decode(&scope, std::hint::black_box(&tampered)).unwrap_err())
    });
}

criterion_group!(benches, cursor_codec);
criterion_main!(benches);
