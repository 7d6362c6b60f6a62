//! Money on the order path: parsing a price, a line's amount (price × quantity) and an
//! order's total of 50 lines, and formatting it back. Run: `cargo bench -p mercado-core`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mercado_core::domain::{Money, Quantity};

fn money(c: &mut Criterion) {
    let mut group = c.benchmark_group("money");
    group.bench_function("parse", |b| {
        b.iter(|| Money::parse(black_box("12345.67")).expect("valid"));
    });
    let price = Money::parse("19.99").expect("valid");
    let quantity = Quantity::new(7).expect("valid");
    group.bench_function("times", |b| {
        b.iter(|| black_box(price).times(black_box(quantity)));
    });
    let lines: Vec<(Money, Quantity)> = (1..=50)
        .map(|i| {
            let price = Money::parse(&format!("{i}.{:02}", i % 100)).expect("valid");
            (price, Quantity::new(i % 5 + 1).expect("valid"))
        })
        .collect();
    group.bench_function("total of 50 lines", |b| {
        b.iter(|| {
            black_box(&lines)
                .iter()
                .map(|(p, q)| p.times(*q))
                .sum::<Money>()
        });
    });
    let total: Money = lines.iter().map(|(p, q)| p.times(*q)).sum();
    group.bench_function("display", |b| b.iter(|| black_box(total).to_string()));
    group.finish();
}

criterion_group!(benches, money);
criterion_main!(benches);
