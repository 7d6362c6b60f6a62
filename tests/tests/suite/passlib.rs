//! Password hashes shared with a Python app using passlib, in both directions, through
//! the users table and the login endpoint.

use mercado_tests::{Backend, conformance, passlib, spawn_app_with, unique_email};

conformance!(
    passlib_hashes_log_in_and_are_upgraded,
    hashes_mercado_writes_verify_in_passlib
);

const PASSWORDS: [&str; 4] = [
    "correct horse battery",
    "pässwörd ünïcödé 🔑",
    "x+y/z==$$$$",
    "a-very-long-password-that-goes-past-seventy-two-bytes-for-bcrypt-truncation-0123456789",
];

async fn passlib_hashes_log_in_and_are_upgraded(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.password_rounds = 29_000).await;
    let schemes = [
        ("pbkdf2_sha256", "", false),
        ("pbkdf2_sha256", "rounds=12000", true),
        ("pbkdf2_sha512", "", true),
        ("bcrypt", "ident='2a', rounds=4", true),
        ("bcrypt", "ident='2b', rounds=4", true),
        ("bcrypt", "ident='2y', rounds=4", true),
    ];
    for (i, (handler, options, upgraded)) in schemes.into_iter().enumerate() {
        let password = PASSWORDS[i % PASSWORDS.len()];
        let email = unique_email();
        app.sign_up(&email, "placeholder-1").await;
        let python_hash = passlib::hash(handler, options, password);
        app.store_hash(&email, &python_hash).await;
        app.login_raw(&email, "not the password").await.problem(401);
        app.login(&email, password).await;
        let stored = app.stored_hash(&email).await;
        if upgraded {
            assert!(
                stored.starts_with("$pbkdf2-sha256$29000$"),
                "{handler} {options}: re-hashed to {stored}"
            );
            assert!(
                passlib::verify(&stored, password),
                "the upgrade still verifies in passlib"
            );
        } else {
            assert_eq!(stored, python_hash, "a current hash is kept");
        }
        app.login(&email, password).await;
    }
}

async fn hashes_mercado_writes_verify_in_passlib(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.password_rounds = 29_000).await;
    for password in PASSWORDS {
        let email = unique_email();
        app.sign_up(&email, password).await;
        let stored = app.stored_hash(&email).await;
        assert!(stored.starts_with("$pbkdf2-sha256$29000$"), "{stored}");
        assert!(
            passlib::verify(&stored, password),
            "passlib verifies Mercado's hash"
        );
        assert!(
            !passlib::verify(&stored, "wrong password"),
            "and rejects a wrong password"
        );
    }
}
