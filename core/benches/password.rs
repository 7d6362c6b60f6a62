//! Password hashing, the CPU-bound hot path of login and sign-up: one pbkdf2-sha256 hash
//! and one verification at passlib's default 29 000 rounds, through the same hasher the
//! server uses (blocking pool, bounded concurrency). Run: `cargo bench -p mercado-core`.

use criterion::{Criterion, criterion_group, criterion_main};
use mercado_core::password::{Password, PasswordHasher};

fn password(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let hasher = PasswordHasher::new(PasswordHasher::DEFAULT_ROUNDS, 1).expect("valid rounds");
    let pw = Password::parse("correct horse battery staple").expect("a valid password");
    let hash = runtime.block_on(hasher.hash(&pw));
    let mut group = c.benchmark_group("pbkdf2-sha256 29000 rounds");
    group.sample_size(20);
    group.bench_function("hash", |b| b.iter(|| runtime.block_on(hasher.hash(&pw))));
    group.bench_function("verify", |b| {
        b.iter(|| runtime.block_on(hasher.verify(&pw, &hash)));
    });
    group.finish();
}

criterion_group!(benches, password);
criterion_main!(benches);
