//! Join tokens: who someone is in a room, signed by the server (or by a committee's own
//! duty platform that shares a key with it), so that joining needs no password.
//!
//! A join token is a JWT signed with HS256. The server holds one or more HMAC secrets,
//! each under a key id (`kid`): tokens are minted with the first (current) key and carry
//! its `kid` in the header; a token is verified with the key its header names. To rotate,
//! put a new key first and keep the old one after it until the links it signed have
//! expired, then remove it.
//!
//! Claims:
//!
//! | claim | meaning |
//! | --- | --- |
//! | `room` | the room id the token admits to |
//! | `sub` | the participant id; `*` with role `audience` is an anonymous audience link |
//! | `name` | display name |
//! | `role` | `host`, `member`, `respondent`, `venue`, `observer`, `recorder`, `audience` |
//! | `grants` | optional list of grants; absent means the role's defaults |
//! | `sector`, `venue` | optional, for rotation and speaking-time accounting |
//! | `exp`, `iat` | expiry and issue time, seconds since the Unix epoch |
//! | `nbf` | optional: not valid before, seconds since the Unix epoch |
//! | `jti` | a random token id |
//!
//! Verification follows RFC 7519 and RFC 7515: the time is an argument (like the room
//! engine), [`LEEWAY_SECS`] of clock skew is allowed on `exp`, `nbf` and `iat` and no
//! more; a token whose `nbf` or `iat` lies further in the future is not yet valid; a
//! lifetime (`exp` − `iat`) beyond the configured maximum (default
//! [`DEFAULT_MAX_LIFETIME`], 7 days) is refused, and so is a header with a `crit`
//! parameter, since this server understands no extension.
//!
//! Text in the claims follows the rules of typed text (NFC, no control characters) with
//! these limits, in characters: `room` 1–64 (no white space), `sub` 1–128 (no white
//! space), `name` 1–64, `sector` and `venue` up to 64, `jti` up to 64.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use yishi_protocol::{ErrorCode, Grant, Millis, Participant, ParticipantId, Role};

/// Clock skew tolerated on a token's expiry, not-before and issue times, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// The longest lifetime (`exp` − `iat`) a token may have unless configured otherwise.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// Limits on the text of claims, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
pub const MAX_SUB_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 64;

/// The `sub` of an anonymous audience link: every viewer who opens it gets an identity
/// of their own from [`anonymous_viewer`].
pub const ANONYMOUS_SUB: &str = "*";

/// The shortest HMAC secret accepted, in bytes. HS256 wants at least 32; 16 is the floor
/// below which a secret is refused outright.
pub const MIN_SECRET_BYTES: usize = 16;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a JWT, not HS256, or its claims do not parse.
    #[error("malformed join token: {0}")]
    Malformed(String),
    /// The header names no key id.
    #[error("join token names no key id")]
    MissingKeyId,
    /// The header names a key this server does not hold (never had it, or it was rotated
    /// out).
    #[error("join token signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not match: forged or altered.
    #[error("join token signature does not verify")]
    BadSignature,
    /// A valid token, for another room.
    #[error("join token is for room {found:?}, not {expected:?}")]
    WrongRoom { expected: String, found: String },
    /// The claims are signed but make no sense (an anonymous `sub` on a named role, an
    /// empty name).
    #[error("join token claims are invalid: {0}")]
    InvalidClaims(String),
    /// A valid token that has expired.
    #[error("join token expired at {exp} (seconds since the epoch)")]
    Expired { exp: u64 },
    /// A valid token whose `nbf` (or `iat`) lies in the future.
    #[error("join token is valid only from {from} (seconds since the epoch)")]
    NotYetValid { from: u64 },
    /// A valid token that lives longer than this server allows.
    #[error("join token lives {secs} s, more than the {max} s allowed")]
    TooLong { secs: u64, max: u64 },
    /// A valid token that was revoked: its invitation link was replaced by a new one.
    #[error("this link was replaced: ask the organiser for the new one")]
    Revoked,
}

impl AuthError {
    /// The error code a client is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Expired { .. } => ErrorCode::TokenExpired,
            AuthError::NotYetValid { .. } => ErrorCode::TokenNotYetValid,
            AuthError::Revoked => ErrorCode::TokenRevoked,
            _ => ErrorCode::Unauthorized,
        }
    }
}

/// A key list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no token keys given")]
    Empty,
    #[error("token key {0:?} is not of the form kid:secret")]
    NotAPair(String),
    #[error("token key id {0:?} is empty or contains ':' ',' or whitespace")]
    BadKid(String),
    #[error("token key {0:?} is shorter than {MIN_SECRET_BYTES} bytes")]
    ShortSecret(String),
    #[error("token key id {0:?} appears twice")]
    DuplicateKid(String),
}

/// The claims of a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The room the token admits to.
    pub room: String,
    /// Participant id, or [`ANONYMOUS_SUB`] for an anonymous audience link.
    pub sub: String,
    /// Display name.
    pub name: String,
    pub role: Role,
    /// Grants; `None` means the role's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<Grant>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Not valid before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Random token id.
    pub jti: String,
}

impl Claims {
    /// Claims for `participant` in `room`, issued at `now` and valid for `ttl`, with a
    /// random `jti`. The participant's grants are written out only where they differ from
    /// the role's defaults.
    pub fn new(
        room: impl Into<String>,
        participant: &Participant,
        now: Millis,
        ttl: Duration,
    ) -> Self {
        let iat = now.0 / 1000;
        let grants = (participant.grants != participant.role.default_grants())
            .then(|| participant.grants.clone());
        Claims {
            room: room.into(),
            sub: participant.id.0.clone(),
            name: participant.name.clone(),
            role: participant.role,
            grants,
            sector: participant.sector.clone(),
            venue: participant.venue.clone(),
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            nbf: None,
            jti: random_base32(&mut rand::rng(), 16),
        }
    }

    /// Claims for an anonymous audience link to `room`: each viewer who opens it gets an
    /// identity of their own.
    pub fn audience_link(room: impl Into<String>, now: Millis, ttl: Duration) -> Self {
        let link = Participant::new(ANONYMOUS_SUB, "观众", Role::Audience);
        Claims::new(room, &link, now, ttl)
    }

    /// Whether these claims are an anonymous audience link.
    pub fn is_anonymous(&self) -> bool {
        self.sub == ANONYMOUS_SUB
    }

    /// The participant the claims describe (for an anonymous link, a template with id
    /// `*`: see [`anonymous_viewer`]).
    pub fn participant(&self) -> Participant {
        Participant {
            id: ParticipantId::new(self.sub.clone()),
            name: self.name.clone(),
            role: self.role,
            grants: self
                .grants
                .clone()
                .unwrap_or_else(|| self.role.default_grants().to_vec()),
            sector: self.sector.clone(),
            venue: self.venue.clone(),
        }
    }

    /// The claims with their text normalised, or why they make no sense.
    fn checked(mut self) -> Result<Claims, AuthError> {
        let invalid = |what: String| Err(AuthError::InvalidClaims(what));
        self.room = claim_text("room", &self.room, MAX_ROOM_CHARS, false)?;
        self.sub = claim_text("sub", &self.sub, MAX_SUB_CHARS, false)?;
        self.name = claim_text("name", &self.name, MAX_NAME_CHARS, true)?;
        if self.room.is_empty() {
            return invalid("empty room".into());
        }
        if self.sub.is_empty() {
            return invalid("empty sub".into());
        }
        if self.name.is_empty() {
            return invalid("empty name".into());
        }
        for field in [&mut self.sector, &mut self.venue] {
            if let Some(text) = field.take() {
                let text = claim_text("sector or venue", &text, MAX_NAME_CHARS, true)?;
                *field = (!text.is_empty()).then_some(text);
            }
        }
        if self.jti.chars().count() > 64 || self.jti.chars().any(char::is_control) {
            return invalid("jti longer than 64 characters or with control characters".into());
        }
        if self.is_anonymous() && self.role != Role::Audience {
            return invalid(format!(
                "anonymous sub `*` with role {:?}; only audience links may be anonymous",
                self.role
            ));
        }
        Ok(self)
    }
}

/// A claim's text in NFC and trimmed, at most `max` characters, without control
/// characters (and without white space where `spaces` is false).
fn claim_text(what: &str, text: &str, max: usize, spaces: bool) -> Result<String, AuthError> {
    use unicode_normalization::UnicodeNormalization;
    let text: String = text.nfc().collect::<String>().trim().to_owned();
    if text.chars().any(char::is_control) || (!spaces && text.chars().any(char::is_whitespace)) {
        return Err(AuthError::InvalidClaims(format!(
            "{what} contains control characters or white space"
        )));
    }
    let n = text.chars().count();
    if n > max {
        return Err(AuthError::InvalidClaims(format!(
            "{what} has {n} characters; at most {max} are allowed"
        )));
    }
    Ok(text)
}

/// One HMAC secret under its key id.
#[derive(Clone)]
struct Key {
    kid: String,
    secret: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The server's token keys: the first signs, all verify; and the longest lifetime a
/// token may have.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<Key>,
    max_lifetime: Duration,
    /// The ids (`jti`) of tokens revoked before their expiry (a replaced invitation
    /// link), shared by every clone of these keys: the hub's and the API's.
    revoked: Arc<RwLock<HashSet<String>>>,
}

impl fmt::Debug for Keys {
    /// Key ids only: secrets never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    /// Keys from `(kid, secret)` pairs, the current (signing) key first.
    pub fn new<K, S>(pairs: impl IntoIterator<Item = (K, S)>) -> Result<Keys, KeyError>
    where
        K: Into<String>,
        S: AsRef<[u8]>,
    {
        let mut keys: Vec<Key> = Vec::new();
        for (kid, secret) in pairs {
            let kid = kid.into();
            let secret = secret.as_ref();
            if kid.is_empty() || kid.contains([':', ',']) || kid.contains(char::is_whitespace) {
                return Err(KeyError::BadKid(kid));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::ShortSecret(kid));
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(KeyError::DuplicateKid(kid));
            }
            keys.push(Key {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                secret: secret.to_vec(),
                kid,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Keys {
            keys,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            revoked: Arc::default(),
        })
    }

    /// Keys from `kid:secret` items (as in `YISHI_TOKEN_KEYS`, split at commas), the
    /// current key first. The secret is everything after the first `:`, used as its
    /// UTF-8 bytes; surrounding whitespace is ignored and empty items are skipped.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Keys, KeyError> {
        let mut pairs = Vec::new();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (kid, secret) = item
                .split_once(':')
                .ok_or_else(|| KeyError::NotAPair(redact(item)))?;
            pairs.push((kid.trim().to_owned(), secret.trim().as_bytes().to_vec()));
        }
        Keys::new(pairs)
    }

    /// Keys from one comma-separated `kid:secret,kid:secret` string.
    pub fn parse_list(list: &str) -> Result<Keys, KeyError> {
        Keys::parse(list.split([',', '\n']))
    }

    /// A fresh random key: kid `k<8 base32>`, secret of 64 hex digits (256 bits).
    pub fn generate() -> Keys {
        let mut rng = rand::rng();
        let kid = format!("k{}", random_base32(&mut rng, 8));
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let secret = hex::encode(bytes);
        // A generated kid and a 64-byte secret always pass the checks.
        Keys::new([(kid, secret)]).unwrap_or_else(|_| unreachable!("generated keys are valid"))
    }

    /// The keys as `kid:secret` items joined by commas (the form [`Keys::parse_list`]
    /// reads), for persisting a generated key. Secrets that are not UTF-8 are written
    /// lossily, so persist only keys that came from text.
    pub fn to_list(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("{}:{}", k.kid, String::from_utf8_lossy(&k.secret)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The same keys, refusing tokens that live longer than `max` (`exp` − `iat`).
    pub fn with_max_lifetime(mut self, max: Duration) -> Keys {
        self.max_lifetime = max;
        self
    }

    /// The longest lifetime a token may have.
    pub fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// Refuse the token with id `jti` from now on (its link was replaced).
    pub fn revoke(&self, jti: &str) {
        match self.revoked.write() {
            Ok(mut set) => set.insert(jti.to_owned()),
            Err(poisoned) => poisoned.into_inner().insert(jti.to_owned()),
        };
    }

    /// Refuse every token whose id is in `jtis` (the revoked tokens in the store, at
    /// start).
    pub fn revoke_all<'a>(&self, jtis: impl IntoIterator<Item = &'a str>) {
        for jti in jtis {
            self.revoke(jti);
        }
    }

    /// Whether the token with id `jti` was revoked.
    pub fn is_revoked(&self, jti: &str) -> bool {
        match self.revoked.read() {
            Ok(set) => set.contains(jti),
            Err(poisoned) => poisoned.into_inner().contains(jti),
        }
    }

    /// The kid new tokens are signed with.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// All key ids, current first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// Whether `claims` would be accepted (their text and lifetime), before minting them
    /// for someone: the same checks as [`Keys::decode`] but the clock's.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        claims.clone().checked()?;
        let lifetime = claims.exp.saturating_sub(claims.iat);
        let max = self.max_lifetime.as_secs();
        if lifetime > max {
            return Err(AuthError::TooLong {
                secs: lifetime,
                max,
            });
        }
        Ok(())
    }

    /// Sign `claims` with the current key.
    pub fn mint(&self, claims: &Claims) -> String {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        // Encoding our own claims with an HMAC key cannot fail: the claims serialise to a
        // JSON object and HS256 takes a secret of any length.
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .unwrap_or_else(|e| unreachable!("HS256 encoding failed: {e}"))
    }

    /// Check a token's signature, claims and expiry (at `now`) without looking at its
    /// room. The hub uses [`Keys::verify`]; this is for tools that must first learn which
    /// room a token is for.
    pub fn decode(&self, token: &str, now: Millis) -> Result<Claims, AuthError> {
        refuse_critical_headers(token)?;
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Malformed(format!(
                "algorithm {:?}, expected HS256",
                header.alg
            )));
        }
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        // Times are checked below against `now`, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    _ => AuthError::Malformed(e.to_string()),
                }
            })?;
        let claims = data.claims.checked()?;
        if self.is_revoked(&claims.jti) {
            return Err(AuthError::Revoked);
        }
        let now_s = now.0 / 1000;
        if claims.exp.saturating_add(LEEWAY_SECS) <= now_s {
            return Err(AuthError::Expired { exp: claims.exp });
        }
        let from = claims.nbf.unwrap_or(0).max(claims.iat);
        if from > now_s.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::NotYetValid { from });
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        let max = self.max_lifetime.as_secs();
        if lifetime > max {
            return Err(AuthError::TooLong {
                secs: lifetime,
                max,
            });
        }
        Ok(claims)
    }

    /// Check a token for `room` at `now` and return who it admits. For an anonymous
    /// audience link the participant's id is [`ANONYMOUS_SUB`]: give each viewer an
    /// identity with [`anonymous_viewer`].
    pub fn verify(&self, token: &str, room: &str, now: Millis) -> Result<Participant, AuthError> {
        let claims = self.decode(token, now)?;
        if claims.room != room {
            return Err(AuthError::WrongRoom {
                expected: room.to_owned(),
                found: claims.room,
            });
        }
        Ok(claims.participant())
    }
}

/// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` header names
/// extensions it does not understand; this server understands none. jsonwebtoken drops
/// unknown header fields, so the header is read here first.
fn refuse_critical_headers(token: &str) -> Result<(), AuthError> {
    use base64::Engine;
    let head = token.split('.').next().unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head) else {
        // Not base64: decode_header says why.
        return Ok(());
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
        Ok(header) if header.contains_key("crit") => Err(AuthError::Malformed(
            "the header has a `crit` parameter, and this server supports no extension".into(),
        )),
        _ => Ok(()),
    }
}

/// Whether `participant` came from an anonymous audience link (id `*`).
pub fn is_anonymous(participant: &Participant) -> bool {
    participant.id.0 == ANONYMOUS_SUB
}

/// An identity for one viewer of an anonymous audience link: id `aud-<16 base32>`,
/// display name `观众<4 digits>`, and the link's role, grants, sector and venue.
pub fn anonymous_viewer(link: &Participant) -> Participant {
    anonymous_viewer_with(link, &mut rand::rng())
}

/// [`anonymous_viewer`] with a given random source (for tests).
pub fn anonymous_viewer_with(link: &Participant, rng: &mut impl Rng) -> Participant {
    let id = format!("aud-{}", random_base32(rng, 16));
    let name = format!("观众{}", rng.random_range(1000..10000u32));
    Participant {
        id: ParticipantId::new(id),
        name,
        ..link.clone()
    }
}

/// `len` random characters of lowercase RFC 4648 base32 (`a-z2-7`), 5 bits each.
pub fn random_base32(rng: &mut impl Rng, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..32usize)]))
        .collect()
}

/// A `kid:secret` item with the secret hidden, for error messages.
fn redact(item: &str) -> String {
    match item.split_once(':') {
        Some((kid, _)) => format!("{kid}:…"),
        None if item.len() > 4 => format!("{}…", item.chars().take(4).collect::<String>()),
        None => item.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const NOW: Millis = Millis(1_750_000_000_000);

    fn keys() -> Keys {
        Keys::parse_list("k2:second-secret-0123456789,k1:first-secret-0123456789").unwrap()
    }

    fn zhang() -> Participant {
        Participant::new("m-zhang", "张三", Role::Member).with_sector("经济界")
    }

    fn token(keys: &Keys, room: &str, ttl_secs: u64) -> String {
        keys.mint(&Claims::new(
            room,
            &zhang(),
            NOW,
            Duration::from_secs(ttl_secs),
        ))
    }

    #[test]
    fn a_minted_token_verifies_back_to_the_participant() {
        let keys = keys();
        let t = token(&keys, "r1", 3600);
        assert_eq!(
            jsonwebtoken::decode_header(&t).unwrap().kid.as_deref(),
            Some("k2")
        );
        let p = keys.verify(&t, "r1", NOW.plus(3_599_000)).unwrap();
        assert_eq!(p, zhang());
        // Default grants are not written out.
        assert_eq!(keys.decode(&t, NOW).unwrap().grants, None);
    }

    #[test]
    fn custom_grants_and_venue_survive_the_round_trip() {
        let keys = keys();
        let mut p = Participant::new("v-1", "东城分会场", Role::Venue).with_venue("东城");
        p.grants = vec![Grant::Join, Grant::RequestFloor];
        let t = keys.mint(&Claims::new("r1", &p, NOW, Duration::from_secs(60)));
        assert_eq!(keys.verify(&t, "r1", NOW).unwrap(), p);
    }

    #[test]
    fn an_expired_token_is_token_expired() {
        let keys = keys();
        let t = token(&keys, "r1", 60);
        // Within the leeway it still passes; past it, it does not.
        assert!(keys.verify(&t, "r1", NOW.plus(62_000)).is_ok());
        let err = keys
            .verify(&t, "r1", NOW.plus(60_000 + LEEWAY_SECS * 1000))
            .unwrap_err();
        assert!(matches!(err, AuthError::Expired { .. }), "{err:?}");
        assert_eq!(err.code(), ErrorCode::TokenExpired);
    }

    #[test]
    fn a_tampered_payload_is_unauthorized() {
        let keys = keys();
        let t = token(&keys, "r1", 3600);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let claims = keys.decode(&t, NOW).unwrap();
        let forged = Claims {
            role: Role::Host,
            ..claims
        };
        use base64_engine::encode_url;
        parts[1] = encode_url(&serde_json::to_vec(&forged).unwrap());
        let err = keys.verify(&parts.join("."), "r1", NOW).unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
        assert_eq!(err.code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn garbage_and_alg_none_are_unauthorized() {
        let keys = keys();
        for t in ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            let err = keys.verify(t, "r1", NOW).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Unauthorized, "{t}: {err:?}");
        }
    }

    #[test]
    fn a_revoked_token_is_token_revoked_in_every_clone() {
        let keys = keys();
        let t = token(&keys, "r1", 3600);
        let hub = keys.clone();
        let jti = keys.decode(&t, NOW).unwrap().jti;
        keys.revoke(&jti);
        let err = hub.verify(&t, "r1", NOW).unwrap_err();
        assert_eq!(err, AuthError::Revoked);
        assert_eq!(err.code(), ErrorCode::TokenRevoked);
        assert!(hub.verify(&token(&keys, "r1", 3600), "r1", NOW).is_ok());
    }

    #[test]
    fn an_unknown_kid_is_unauthorized() {
        let other = Keys::parse_list("k9:second-secret-0123456789").unwrap();
        let t = token(&other, "r1", 3600);
        let err = keys().verify(&t, "r1", NOW).unwrap_err();
        assert_eq!(err, AuthError::UnknownKey("k9".into()));
        assert_eq!(err.code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn a_known_kid_with_the_wrong_secret_is_unauthorized() {
        let other = Keys::parse_list("k2:not-the-real-secret-000").unwrap();
        let err = keys()
            .verify(&token(&other, "r1", 3600), "r1", NOW)
            .unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
    }

    #[test]
    fn a_token_signed_with_a_rotated_out_key_still_verifies_until_removed() {
        let old = Keys::parse_list("k1:first-secret-0123456789").unwrap();
        let t = token(&old, "r1", 3600);
        // Rotated: k2 signs now, k1 still verifies.
        let rotated = keys();
        assert_eq!(rotated.current_kid(), "k2");
        assert_eq!(rotated.verify(&t, "r1", NOW).unwrap(), zhang());
        // Removed: refused.
        let removed = Keys::parse_list("k2:second-secret-0123456789").unwrap();
        assert_eq!(
            removed.verify(&t, "r1", NOW).unwrap_err(),
            AuthError::UnknownKey("k1".into())
        );
    }

    #[test]
    fn a_token_for_another_room_is_unauthorized() {
        let keys = keys();
        let err = keys
            .verify(&token(&keys, "r1", 3600), "r2", NOW)
            .unwrap_err();
        assert!(matches!(err, AuthError::WrongRoom { .. }));
        assert_eq!(err.code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn an_anonymous_audience_link_gives_each_viewer_an_identity() {
        let keys = keys();
        let t = keys.mint(&Claims::audience_link("r1", NOW, Duration::from_secs(60)));
        let link = keys.verify(&t, "r1", NOW).unwrap();
        assert!(is_anonymous(&link));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = anonymous_viewer_with(&link, &mut rng);
        let b = anonymous_viewer_with(&link, &mut rng);
        assert_ne!(a.id, b.id);
        assert!(
            a.id.0.starts_with("aud-") && a.id.0.len() == 20,
            "{}",
            a.id.0
        );
        assert!(
            a.name.starts_with("观众") && a.name.chars().count() == 6,
            "{}",
            a.name
        );
        assert_eq!(a.role, Role::Audience);
        assert_eq!(a.grants, Role::Audience.default_grants());
        assert!(!is_anonymous(&anonymous_viewer(&link)));
    }

    #[test]
    fn an_anonymous_sub_on_another_role_is_refused() {
        let keys = keys();
        let p = Participant::new(ANONYMOUS_SUB, "x", Role::Host);
        let t = keys.mint(&Claims::new("r1", &p, NOW, Duration::from_secs(60)));
        let err = keys.verify(&t, "r1", NOW).unwrap_err();
        assert!(matches!(err, AuthError::InvalidClaims(_)));
        assert_eq!(err.code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn key_lists_parse_and_refuse_bad_items() {
        let k = Keys::parse_list(" a:0123456789abcdef:with-colon , b:fedcba9876543210 ").unwrap();
        assert_eq!(k.kids().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            Keys::parse_list(&k.to_list()).unwrap().to_list(),
            k.to_list()
        );
        assert_eq!(Keys::parse_list("").unwrap_err(), KeyError::Empty);
        assert_eq!(
            Keys::parse_list("nocolon").unwrap_err(),
            KeyError::NotAPair("noco…".into())
        );
        assert_eq!(
            Keys::parse_list("a:short").unwrap_err(),
            KeyError::ShortSecret("a".into())
        );
        assert_eq!(
            Keys::parse_list(":0123456789abcdef").unwrap_err(),
            KeyError::BadKid("".into())
        );
        assert_eq!(
            Keys::parse_list("a:0123456789abcdef,a:0123456789abcdef").unwrap_err(),
            KeyError::DuplicateKid("a".into())
        );
        let g = Keys::generate();
        assert!(g.current_kid().starts_with('k'));
        assert!(!format!("{g:?}").contains(&g.to_list()[10..]));
    }

    /// A token signed with `secret` from raw header and claims JSON, for what our own
    /// minting never produces.
    fn sign_raw(header: &serde_json::Value, claims: &serde_json::Value, secret: &[u8]) -> String {
        use base64_engine::encode_url;
        use hmac::Mac;
        let signing = format!(
            "{}.{}",
            encode_url(&serde_json::to_vec(header).unwrap()),
            encode_url(&serde_json::to_vec(claims).unwrap())
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(signing.as_bytes());
        format!("{signing}.{}", encode_url(&mac.finalize().into_bytes()))
    }

    fn raw_claims(iat: u64, exp: u64) -> serde_json::Value {
        serde_json::json!({
            "room": "r1", "sub": "m-zhang", "name": "张三", "role": "member",
            "iat": iat, "exp": exp, "jti": "j1",
        })
    }

    fn k2_header() -> serde_json::Value {
        serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "k2"})
    }

    const SECRET: &[u8] = b"second-secret-0123456789";

    #[test]
    fn a_raw_token_as_minted_verifies() {
        let now = NOW.0 / 1000;
        let t = sign_raw(&k2_header(), &raw_claims(now, now + 60), SECRET);
        assert_eq!(
            keys().verify(&t, "r1", NOW).unwrap(),
            Participant::new("m-zhang", "张三", Role::Member)
        );
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_beyond_the_leeway() {
        let now = NOW.0 / 1000;
        // iat in the future.
        let t = sign_raw(&k2_header(), &raw_claims(now + 3600, now + 7200), SECRET);
        let err = keys().verify(&t, "r1", NOW).unwrap_err();
        assert_eq!(err, AuthError::NotYetValid { from: now + 3600 });
        assert_eq!(err.code(), ErrorCode::TokenNotYetValid);
        // nbf in the future.
        let mut c = raw_claims(now, now + 7200);
        c["nbf"] = (now + 600).into();
        let t = sign_raw(&k2_header(), &c, SECRET);
        assert_eq!(
            keys().verify(&t, "r1", NOW).unwrap_err(),
            AuthError::NotYetValid { from: now + 600 }
        );
        // Within the leeway both pass.
        let mut c = raw_claims(now + LEEWAY_SECS, now + 7200);
        c["nbf"] = (now + LEEWAY_SECS).into();
        assert!(
            keys()
                .verify(&sign_raw(&k2_header(), &c, SECRET), "r1", NOW)
                .is_ok()
        );
    }

    #[test]
    fn a_lifetime_beyond_the_maximum_is_refused() {
        let now = NOW.0 / 1000;
        let t = sign_raw(&k2_header(), &raw_claims(now, u64::MAX), SECRET);
        let err = keys().verify(&t, "r1", NOW).unwrap_err();
        assert!(matches!(err, AuthError::TooLong { .. }), "{err:?}");
        assert_eq!(err.code(), ErrorCode::Unauthorized);
        let week = DEFAULT_MAX_LIFETIME.as_secs();
        let t = sign_raw(&k2_header(), &raw_claims(now, now + week), SECRET);
        assert!(keys().verify(&t, "r1", NOW).is_ok());
        let t = sign_raw(&k2_header(), &raw_claims(now, now + week + 1), SECRET);
        assert!(keys().verify(&t, "r1", NOW).is_err());
        // A shorter maximum, configured.
        let short = keys().with_max_lifetime(Duration::from_secs(60));
        let t = sign_raw(&k2_header(), &raw_claims(now, now + 61), SECRET);
        assert!(matches!(
            short.verify(&t, "r1", NOW),
            Err(AuthError::TooLong { secs: 61, max: 60 })
        ));
    }

    #[test]
    fn a_critical_header_is_refused() {
        let now = NOW.0 / 1000;
        let mut h = k2_header();
        h["crit"] = serde_json::json!(["exp-ext"]);
        h["exp-ext"] = true.into();
        let t = sign_raw(&h, &raw_claims(now, now + 60), SECRET);
        let err = keys().verify(&t, "r1", NOW).unwrap_err();
        assert!(
            matches!(err, AuthError::Malformed(ref m) if m.contains("crit")),
            "{err:?}"
        );
    }

    #[test]
    fn names_and_ids_follow_the_text_rules() {
        let now = NOW.0 / 1000;
        let with = |field: &str, value: serde_json::Value| {
            let mut c = raw_claims(now, now + 60);
            c[field] = value;
            keys().verify(&sign_raw(&k2_header(), &c, SECRET), "r1", NOW)
        };
        let cases: [(&str, String); 6] = [
            ("name", "张\u{7}三".into()),
            ("name", "长".repeat(MAX_NAME_CHARS + 1)),
            ("name", "   ".into()),
            ("sub", "m zhang".into()),
            ("sub", "x".repeat(MAX_SUB_CHARS + 1)),
            ("sector", "\u{1b}[31m".into()),
        ];
        for (field, value) in cases {
            let err = with(field, value.clone().into()).unwrap_err();
            assert!(
                matches!(err, AuthError::InvalidClaims(_)),
                "{field}={value:?}: {err:?}"
            );
        }
        // Names are normalised (NFC, trimmed): e + combining acute is é.
        let p = with("name", " Rene\u{301} ".into()).unwrap();
        assert_eq!(p.name, "Ren\u{e9}");
        let long = with("name", "长".repeat(MAX_NAME_CHARS).into()).unwrap();
        assert_eq!(long.name.chars().count(), MAX_NAME_CHARS);
    }

    /// Base64url without padding, enough to forge a payload in a test.
    mod base64_engine {
        pub fn encode_url(bytes: &[u8]) -> String {
            const A: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
            out
        }
    }
}
