//! Citizen sign-in through an OpenID provider (the national identity
//! service): this node as a relying party, with the `openidconnect` crate.
//!
//! The authorization code flow with PKCE. `start` discovers the provider
//! (once, then cached), remembers a pending sign-in under a random `state`
//! (its nonce and PKCE verifier, for [`PENDING_SIGN_IN_TTL_SECS`]), and
//! returns the provider's authorization URL. `finish` takes the pending
//! sign-in (once: a state is never accepted twice), exchanges the code with
//! the verifier at the token endpoint, and verifies the ID token: issuer,
//! audience (this client alone), signature against the provider's published
//! keys (asymmetric algorithms only; an unknown key id fetches the key set
//! again, at most once per [`JWKS_REFRESH_MIN_INTERVAL_SECS`], which is how
//! a provider's key rotation reaches the node), expiry by the node's clock,
//! and the nonce. Only then is the configured claim read as an ID document
//! number, which the handler turns into the pid at once; the number is never
//! stored, logged or put in an error message.
//!
//! ymt-http owns this because it talks HTTP; the node keeps only its data
//! (`ymt_node::config::OidcConfig`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IdTokenVerifier, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use ymt_core::Timestamp;
use ymt_core::identity::{IdDocument, IdType};
use ymt_node::config::OidcConfig;

/// How long a sign-in may stay at the provider before its state is forgotten.
pub const PENDING_SIGN_IN_TTL_SECS: i64 = 600;
/// Sign-ins pending at once; past it, new ones are refused (503) rather than
/// forgetting someone's sign-in in progress.
pub const PENDING_SIGN_INS_MAX: usize = 10_000;
/// The key set is fetched again for an unknown key id at most this often, so
/// that a provider answering with strange key ids cannot make the node hammer
/// it.
pub const JWKS_REFRESH_MIN_INTERVAL_SECS: i64 = 60;
/// Seconds a request to the provider may take.
pub const PROVIDER_REQUEST_TIMEOUT_SECS: u64 = 10;
/// The path of the redirect URI under the node's public URL.
pub const CALLBACK_PATH: &str = "/v1/session/oidc/callback";
/// The browser-bound cookie naming the sign-in in progress.
pub const STATE_COOKIE: &str = "ymt_oidc_state";
/// The scopes asked for: the identity scope carries the ID number claim.
pub const SCOPES: [&str; 2] = ["profile", "ymt_identity"];

/// Why a sign-in did not happen. `Refused` is the caller's (401, no session);
/// the others are the node's or the provider's (503).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{0}")]
    Refused(String),
    #[error("the identity provider cannot be reached: {0}")]
    ProviderUnavailable(String),
    #[error("too many sign-ins in progress on this node; try again later")]
    Busy,
}

/// Claims beyond the standard ones, by name (the ID number claim is
/// configurable). Never printed: it holds the ID number.
#[derive(Clone, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    pub claims: HashMap<String, serde_json::Value>,
}

impl std::fmt::Debug for ExtraClaims {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ExtraClaims(<redacted>)")
    }
}

impl AdditionalClaims for ExtraClaims {}

/// An ID token with the configurable claims.
pub type YmtIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What an ID token is checked against.
pub struct TokenExpectations<'a> {
    pub issuer_url: &'a str,
    pub client_id: &'a str,
    pub keys: &'a CoreJsonWebKeySet,
    pub id_number_claim: &'a str,
    pub id_type: IdType,
}

/// Verifies a compact ID token and reads the ID document it asserts. Pure:
/// the keys and the clock are given.
pub fn verify_id_token(
    expect: &TokenExpectations<'_>,
    raw_id_token: &str,
    nonce: &Nonce,
    now: Timestamp,
) -> Result<(IdDocument, String), OidcError> {
    let token: YmtIdToken = raw_id_token
        .parse()
        .map_err(|_| OidcError::Refused("the ID token is malformed".into()))?;
    let (document, subject) =
        verify_parsed_id_token(expect, &token, nonce, now, true).map_err(|error| match error {
            TokenCheck::Claims(error) => OidcError::Refused(describe(&error)),
            TokenCheck::Refused(message) => OidcError::Refused(message),
        })?;
    let document = document.ok_or_else(|| OidcError::Refused("no ID document".into()))?;
    Ok((document, subject))
}

enum TokenCheck {
    Claims(ClaimsVerificationError),
    Refused(String),
}

fn verify_parsed_id_token(
    expect: &TokenExpectations<'_>,
    token: &YmtIdToken,
    nonce: &Nonce,
    now: Timestamp,
    with_id_number: bool,
) -> Result<(Option<IdDocument>, String), TokenCheck> {
    let issuer = IssuerUrl::new(expect.issuer_url.to_owned())
        .map_err(|_| TokenCheck::Refused("the configured issuer is not a URL".into()))?;
    let now_utc = chrono::DateTime::from_timestamp(now.unix_secs(), 0)
        .ok_or_else(|| TokenCheck::Refused("the node's clock is out of range".into()))?;
    // A public-client verifier: no client secret, so no HMAC-signed token
    // (which anyone holding the secret could mint) is ever accepted.
    let verifier: IdTokenVerifier<'_, CoreJsonWebKey> = IdTokenVerifier::new_public_client(
        ClientId::new(expect.client_id.to_owned()),
        issuer,
        expect.keys.clone(),
    )
    .set_time_fn(move || now_utc);
    let claims = token.claims(&verifier, nonce).map_err(TokenCheck::Claims)?;
    if !with_id_number {
        return Ok((None, claims.subject().to_string()));
    }
    let number = claims
        .additional_claims()
        .claims
        .get(expect.id_number_claim)
        .and_then(|value| value.as_str())
        .ok_or_else(|| {
            TokenCheck::Refused(format!(
                "the ID token has no `{}` claim (the ID document number)",
                expect.id_number_claim
            ))
        })?;
    // The parse error names the rule broken, never the number.
    let document = IdDocument::parse(expect.id_type, number).map_err(|_| {
        TokenCheck::Refused(format!(
            "the `{}` claim is not a valid ID document number",
            expect.id_number_claim
        ))
    })?;
    Ok((Some(document), claims.subject().to_string()))
}

/// A refusal's reason, in words a caller can act on.
fn describe(error: &ClaimsVerificationError) -> String {
    match error {
        ClaimsVerificationError::Expired(_) => "the ID token has expired".into(),
        ClaimsVerificationError::InvalidAudience(_) => {
            "the ID token was issued to another client (wrong audience)".into()
        }
        ClaimsVerificationError::InvalidIssuer(_) => {
            "the ID token was issued by another provider (wrong issuer)".into()
        }
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token's nonce is not this sign-in's (a replayed or injected token)".into()
        }
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoSignature) => {
            "the ID token is not signed".into()
        }
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::DisallowedAlg(alg),
        ) => format!("the ID token's signature algorithm is not accepted: {alg}"),
        ClaimsVerificationError::SignatureVerification(_) => {
            "the ID token's signature does not verify against the provider's published keys".into()
        }
        other => format!("the ID token is not valid: {other}"),
    }
}

/// Who is signing in: a citizen (the ID number claim makes the pid) or a
/// staff member (the subject names a principal of the registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Citizen,
    Staff,
}

struct PendingSignIn {
    purpose: Purpose,
    nonce: Nonce,
    pkce_verifier: String,
    started_at: Timestamp,
}

#[derive(Default)]
struct PendingSignIns {
    by_state: HashMap<String, PendingSignIn>,
    /// States in the order they started (also the order they expire in).
    started: VecDeque<String>,
}

impl PendingSignIns {
    fn prune(&mut self, now: Timestamp) {
        while let Some(front) = self.started.front() {
            let expired = self.by_state.get(front).is_none_or(|pending| {
                now.unix_secs() - pending.started_at.unix_secs() >= PENDING_SIGN_IN_TTL_SECS
            });
            if !expired {
                break;
            }
            let front = self.started.pop_front().expect("a front");
            self.by_state.remove(&front);
        }
        if self.started.len() > 2 * PENDING_SIGN_INS_MAX {
            let by_state = &self.by_state;
            self.started.retain(|state| by_state.contains_key(state));
        }
    }
}

struct Discovered {
    metadata: CoreProviderMetadata,
    /// Where RP-initiated logout sends the browser, if the provider has it.
    end_session_endpoint: Option<String>,
    /// When the key set was last fetched again for an unknown key id.
    keys_refreshed_at: Option<Timestamp>,
}

/// A started sign-in: where to send the browser, and the state to bind to it.
pub struct StartedSignIn {
    pub authorize_url: String,
    pub state: String,
}

/// What a finished sign-in asserts: for a citizen the ID document, for a
/// staff member the subject alone; and the ID token, kept for a staff
/// member's logout (`id_token_hint`).
pub struct SignedIn {
    pub purpose: Purpose,
    pub document: Option<IdDocument>,
    pub subject: String,
    pub id_token: String,
}

/// The staff session cookie.
pub const STAFF_SESSION_COOKIE: &str = "ymt_staff_session";

/// This node as a client of one OpenID provider.
pub struct OidcRelyingParty {
    config: OidcConfig,
    redirect_url: RedirectUrl,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
    pending: Mutex<PendingSignIns>,
}

impl OidcRelyingParty {
    /// A relying party redirecting back to `public_url` + [`CALLBACK_PATH`].
    pub fn new(config: OidcConfig, public_url: &str) -> anyhow::Result<OidcRelyingParty> {
        let redirect_url = RedirectUrl::new(format!(
            "{}{CALLBACK_PATH}",
            public_url.trim_end_matches('/')
        ))?;
        IssuerUrl::new(config.issuer_url.clone())?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would let a provider response steer the
            // node's requests elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(PROVIDER_REQUEST_TIMEOUT_SECS))
            .build()?;
        Ok(OidcRelyingParty {
            config,
            redirect_url,
            http,
            discovered: tokio::sync::Mutex::new(None),
            pending: Mutex::new(PendingSignIns::default()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's metadata, discovered on first use (a provider down at
    /// the node's start does not stop the node; sign-in waits for it).
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut discovered = self.discovered.lock().await;
        if let Some(discovered) = discovered.as_ref() {
            return Ok(discovered.metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer_url.clone())
            .map_err(|error| OidcError::ProviderUnavailable(error.to_string()))?;
        // Discovery checks that the document names exactly this issuer.
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| OidcError::ProviderUnavailable(error_chain(&error)))?;
        // The core metadata type has no end_session_endpoint (RP-initiated
        // logout is a separate specification): read it from the same
        // document.
        let end_session_endpoint = self.end_session_endpoint().await;
        *discovered = Some(Discovered {
            metadata: metadata.clone(),
            end_session_endpoint,
            keys_refreshed_at: None,
        });
        Ok(metadata)
    }

    /// The provider's end-session endpoint. The core metadata type has no
    /// such field (RP-initiated logout is a specification of its own), so
    /// it is read from the same discovery document; `None` when absent or
    /// unreadable (logout then ends the node's session only).
    async fn end_session_endpoint(&self) -> Option<String> {
        let response = self
            .http
            .get(format!(
                "{}/.well-known/openid-configuration",
                self.config.issuer_url.trim_end_matches('/')
            ))
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?;
        let bytes = response.bytes().await.ok()?;
        let document: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        document["end_session_endpoint"].as_str().map(str::to_owned)
    }

    /// Fetches the key set again after a token named a key the node does not
    /// know (the provider rotated its keys). `false` when it was fetched too
    /// recently to try again.
    async fn refresh_keys(&self, now: Timestamp) -> Result<bool, OidcError> {
        let mut discovered = self.discovered.lock().await;
        let Some(discovered) = discovered.as_mut() else {
            return Ok(false);
        };
        if discovered
            .keys_refreshed_at
            .is_some_and(|at| now.unix_secs() - at.unix_secs() < JWKS_REFRESH_MIN_INTERVAL_SECS)
        {
            return Ok(false);
        }
        let keys = CoreJsonWebKeySet::fetch_async(discovered.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|error| OidcError::ProviderUnavailable(error_chain(&error)))?;
        discovered.metadata = discovered.metadata.clone().set_jwks(keys);
        discovered.keys_refreshed_at = Some(now);
        Ok(true)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_url.clone())
    }

    /// Starts a sign-in at `now`.
    pub async fn start(
        &self,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<StartedSignIn, OidcError> {
        let metadata = self.metadata().await?;
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(metadata);
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(pkce_challenge).url();
        let mut pending = self.pending.lock();
        pending.prune(now);
        if pending.by_state.len() >= PENDING_SIGN_INS_MAX {
            return Err(OidcError::Busy);
        }
        pending.by_state.insert(
            state.secret().clone(),
            PendingSignIn {
                purpose,
                nonce,
                pkce_verifier: pkce_verifier.secret().clone(),
                started_at: now,
            },
        );
        pending.started.push_back(state.secret().clone());
        Ok(StartedSignIn {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
        })
    }

    /// Takes the pending sign-in of `state` (so it is never used twice).
    fn take_pending(&self, state: &str, now: Timestamp) -> Option<PendingSignIn> {
        let mut pending = self.pending.lock();
        pending.prune(now);
        pending.by_state.remove(state)
    }

    /// Forgets the sign-in of `state` (the provider reported an error).
    pub fn abandon(&self, state: &str, now: Timestamp) {
        drop(self.take_pending(state, now));
    }

    /// Finishes the sign-in of `state` with the provider's `code`.
    pub async fn finish(
        &self,
        state: &str,
        code: &str,
        now: Timestamp,
    ) -> Result<SignedIn, OidcError> {
        let pending = self.take_pending(state, now).ok_or_else(|| {
            OidcError::Refused(
                "no sign-in in progress has this state (unknown, expired or already used)".into(),
            )
        })?;
        let metadata = self.metadata().await?;
        let client = self.client(metadata);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::ProviderUnavailable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier));
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => OidcError::Refused(format!(
                    "the identity provider refused the authorization code: {}",
                    response.error()
                )),
                other => OidcError::ProviderUnavailable(error_chain(&other)),
            })?;
        let raw = response
            .id_token()
            .ok_or_else(|| OidcError::Refused("the identity provider sent no ID token".into()))?
            .to_string();
        let token: YmtIdToken = raw
            .parse()
            .map_err(|_| OidcError::Refused("the ID token is malformed".into()))?;
        let mut refreshed = false;
        loop {
            let metadata = self.metadata().await?;
            let expect = TokenExpectations {
                issuer_url: &self.config.issuer_url,
                client_id: &self.config.client_id,
                keys: metadata.jwks(),
                id_number_claim: &self.config.id_number_claim,
                id_type: self.config.id_type,
            };
            let citizen = pending.purpose == Purpose::Citizen;
            match verify_parsed_id_token(&expect, &token, &pending.nonce, now, citizen) {
                Ok((document, subject)) => {
                    return Ok(SignedIn {
                        purpose: pending.purpose,
                        document,
                        subject,
                        id_token: raw,
                    });
                }
                Err(TokenCheck::Claims(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                ))) if !refreshed && self.refresh_keys(now).await? => refreshed = true,
                Err(TokenCheck::Claims(error)) => return Err(OidcError::Refused(describe(&error))),
                Err(TokenCheck::Refused(message)) => return Err(OidcError::Refused(message)),
            }
        }
    }
}

/// An error with its causes, for a 503's detail (no secrets: these are
/// transport and parse errors).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

impl OidcRelyingParty {
    /// The provider's logout URL (RP-initiated logout), sending the browser
    /// back to `post_logout_redirect_uri`; `None` when the provider has no
    /// end-session endpoint or has not been discovered.
    pub async fn logout_url(
        &self,
        id_token: &str,
        post_logout_redirect_uri: &str,
    ) -> Option<String> {
        let discovered = self.discovered.lock().await;
        let endpoint = discovered.as_ref()?.end_session_endpoint.clone()?;
        let mut url = openidconnect::url::Url::parse(&endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("client_id", &self.config.client_id);
        Some(url.to_string())
    }
}
