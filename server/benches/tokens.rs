//! Access tokens, on every authenticated request: issuing one (login) and verifying one
//! (HS256, claims checked); and the refresh token of each login and refresh: making one
//! (256 bits from the OS) and hashing one (what a refresh computes in place of a password
//! hash). Run: `cargo bench -p mercado-server --bench tokens`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mercado_core::domain::{SecretToken, SessionId, TokenPurpose, UserId};
use mercado_server::auth::TokenCodec;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

fn tokens(c: &mut Criterion) {
    let secret = SecretString::from("a-benchmark-secret-of-at-least-32-bytes");
    let codec = TokenCodec::new(&secret, Duration::minutes(30));
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    let session = SessionId::generate();
    let token = codec.issue(user, session, OffsetDateTime::now_utc()).token;
    let mut group = c.benchmark_group("jwt hs256");
    group.bench_function("issue", |b| {
        b.iter(|| codec.issue(black_box(user), session, OffsetDateTime::now_utc()));
    });
    group.bench_function("verify", |b| {
        b.iter(|| codec.verify(black_box(&token)).expect("valid"));
    });
    group.finish();
    let mut group = c.benchmark_group("refresh token");
    group.bench_function("generate", |b| b.iter(SecretToken::generate));
    let refresh = SecretToken::generate();
    group.bench_function("hash", |b| {
        b.iter(|| black_box(&refresh).hash(TokenPurpose::Refresh));
    });
    group.finish();
}

criterion_group!(benches, tokens);
criterion_main!(benches);
