//! The machine's ceiling for logins: pbkdf2-sha256 hashes per second at the configured
//! rounds with every core busy, straight through the pbkdf2 crate's passlib-format hash
//! (the call the server makes, without its hasher, queue or threads).
//! `bench/load.sh` compares the server's login rate with it.
//!
//! Run: `cargo bench -p mercado-core --bench pbkdf2_ceiling -- [seconds=5] [rounds=29000]`
//! (threads: `std::thread::available_parallelism`). Prints one line: `<hashes/s> <threads>`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pbkdf2::password_hash::CustomizedPasswordHasher;
use pbkdf2::{Params, Pbkdf2};

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let seconds = args.next().unwrap_or(5);
    let rounds = args
        .next()
        .map_or(29_000, |r| u32::try_from(r).expect("rounds fit u32"));
    let threads = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let params = Params::new(rounds).expect("at least 1 000 rounds");

    let (stop, done) = (AtomicBool::new(false), AtomicU64::new(0));
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..threads {
            let (stop, done) = (&stop, &done);
            s.spawn(move || {
                let salt = [u8::try_from(t).unwrap_or(0); 16];
                while !stop.load(Ordering::Relaxed) {
                    let hash = Pbkdf2::SHA256.hash_password_customized(
                        b"correct horse battery staple",
                        &salt,
                        None,
                        None,
                        params,
                    );
                    std::hint::black_box(hash.expect("valid parameters"));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    #[allow(clippy::cast_precision_loss)] // A count of hashes, far below 2^52.
    let rate = done.into_inner() as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.0} {threads}");
}
