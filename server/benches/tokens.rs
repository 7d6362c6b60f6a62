//! Access tokens, on every authenticated request: issuing one (login) and verifying one
//! (HS256, claims checked). Run: `cargo bench -p mercado-server --bench tokens`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mercado_core::domain::UserId;
use mercado_server::auth::TokenCodec;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

fn tokens(c: &mut Criterion) {
    let secret = SecretString::from("a-benchmark-secret-of-at-least-32-bytes");
    let codec = TokenCodec::new(&secret, Duration::minutes(30));
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    let token = codec.issue(user, OffsetDateTime::now_utc()).token;
    let mut group = c.benchmark_group("jwt hs256");
    group.bench_function("issue", |b| {
        b.iter(|| codec.issue(black_box(user), OffsetDateTime::now_utc()));
    });
    group.bench_function("verify", |b| {
        b.iter(|| codec.verify(black_box(&token)).expect("valid"));
    });
    group.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
