//! Passwords, stored as argon2id hashes (PHC strings carry the parameters, so they can be raised
//! later without breaking stored hashes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::DomainError;

/// argon2id with OWASP's second recommended setting (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub(crate) fn hash(password: &str) -> Result<String, DomainError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DomainError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DomainError::Random(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::Corrupt(format!("cannot hash a password: {e}")))
}

/// Whether `password` matches `stored`. A damaged stored hash matches nothing.
pub(crate) fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time a real check would, for a username that does not exist: the answer's timing
/// must not tell who works here.
/// A fixed, valid hash of a random password nobody knows.
const NOBODY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zq4NRp5sPVhXyXVfPuXr1Vg1GjYzm2Q1qmfVe8c/Sqo";

pub(crate) fn verify_nobody(password: &str) {
    let _ = verify(password, NOBODY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only_and_is_salted() {
        let first = hash("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert!(verify("correct horse", &first));
        assert!(!verify("correct horsE", &first));
        assert_ne!(
            first,
            hash("correct horse").unwrap(),
            "each hash has its own salt"
        );
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn the_stand_in_hash_is_a_real_one_so_unknown_users_cost_a_full_check() {
        assert!(PasswordHash::new(NOBODY).is_ok());
    }
}
