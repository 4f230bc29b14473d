//! STUN and TURN servers for clients, with time-limited TURN credentials in the scheme
//! coturn calls the REST API (`use-auth-secret`): the username is `<expiry>:<id>`, the
//! password the base64 of HMAC-SHA1 over it with the secret shared with the TURN server.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use yishi_protocol::{IceServer, Millis, ParticipantId};

#[derive(Clone)]
pub struct TurnConfig {
    /// `stun:` and `turn:`/`turns:` URLs, handed to clients as they are.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`; without it the URLs go out without credentials.
    pub secret: Option<String>,
    /// How long credentials stay valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TurnConfig {
    /// The servers for `who`, with credentials valid from `now` for the configured time.
    pub fn ice_servers(&self, who: &ParticipantId, now: Millis) -> Vec<IceServer> {
        if self.urls.is_empty() {
            return Vec::new();
        }
        let (username, credential) = match &self.secret {
            Some(secret) => {
                let expiry = now.0 / 1000 + self.ttl.as_secs();
                let username = format!("{expiry}:{}", who.0);
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
                    return Vec::new();
                };
                mac.update(username.as_bytes());
                let password =
                    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                (Some(username), Some(password))
            }
            None => (None, None),
        };
        vec![IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_coturn_rest_scheme() {
        let turn = TurnConfig {
            urls: vec!["turn:turn.example.org:3478".into()],
            secret: Some("north".into()),
            ttl: Duration::from_secs(3600),
        };
        let servers = turn.ice_servers(&ParticipantId::new("m1"), Millis(1_000_000_000));
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].username.as_deref(), Some("1003600:m1"));
        // HMAC-SHA1("north", "1003600:m1"), base64; computed independently with
        // `printf %s 1003600:m1 | openssl dgst -sha1 -hmac north -binary | base64`.
        assert_eq!(
            servers[0].credential.as_deref(),
            Some("amOiXnxU95Zt2O0xDLJFSLZDuhs=")
        );
        let stun = TurnConfig {
            secret: None,
            ..turn
        };
        assert_eq!(
            stun.ice_servers(&ParticipantId::new("m1"), Millis(0))[0].username,
            None
        );
    }
}
