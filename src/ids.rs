//! Room codes and secret tokens: generation from the OS-seeded CSPRNG, parsing, hashing.
//!
//! A room code is public (it is on the projector); a token is a secret that only its owner
//! holds. The server keeps only SHA-256 hashes of tokens and compares them in constant time.

use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

/// Crockford base32 alphabet: no I, L, O, U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// An 8-character room code: 40 random bits in Crockford base32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode([u8; 8]);

impl RoomCode {
    /// A fresh random code from the thread-local CSPRNG (ChaCha, seeded by the OS).
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let mut b = [0u8; 8];
        for c in &mut b {
            *c = CROCKFORD[rng.random_range(0..32)];
        }
        RoomCode(b)
    }

    /// Parse what a person typed: case-insensitive, dashes and spaces ignored, `I`/`L` read
    /// as `1` and `O` as `0`. `None` unless exactly 8 valid characters remain.
    pub fn parse(input: &str) -> Option<Self> {
        let mut b = [0u8; 8];
        let mut n = 0;
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            };
            if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) || n == 8 {
                return None;
            }
            b[n] = c as u8;
            n += 1;
        }
        (n == 8).then_some(RoomCode(b))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII from CROCKFORD is ever stored.
        std::str::from_utf8(&self.0).unwrap_or("????????")
    }
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomCode({})", self.as_str())
    }
}

/// A fresh 128-bit secret as 32 lowercase hex characters.
pub fn new_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// SHA-256 of a token: what the server stores instead of the token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time comparison of a presented token with a stored hash.
pub fn token_matches(token: &str, hash: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(hash_token(token).ct_eq(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_normalise() {
        for _ in 0..1000 {
            let c = RoomCode::random();
            assert_eq!(c.as_str().len(), 8);
            assert_eq!(RoomCode::parse(c.as_str()), Some(c));
            assert_eq!(RoomCode::parse(&c.as_str().to_lowercase()), Some(c));
        }
        let c = RoomCode::parse("ABCD1234").unwrap();
        assert_eq!(RoomCode::parse("abcd-1234"), Some(c));
        assert_eq!(RoomCode::parse(" ab cd 12 34 "), Some(c));
        assert_eq!(RoomCode::parse("0O0O1IL1"), RoomCode::parse("00001111"));
        assert_eq!(RoomCode::parse("ABCD123"), None);
        assert_eq!(RoomCode::parse("ABCD12345"), None);
        assert_eq!(RoomCode::parse("ABCD123U"), None);
        assert_eq!(RoomCode::parse("ABCD12é4"), None);
    }

    #[test]
    fn tokens_are_128_bits_and_compare() {
        let t = new_token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token());
        let h = hash_token(&t);
        assert!(token_matches(&t, &h));
        assert!(!token_matches(&new_token(), &h));
    }
}
