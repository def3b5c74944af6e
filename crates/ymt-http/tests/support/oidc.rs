//! A real OpenID provider for the tests, and a minimal browser to sign in
//! through its own login page.
//!
//! [`OidcProvider::start`] runs `oidc-provider` (npm, OpenID Certified; a
//! declared dev dependency of browser-tests/, installed by `npm ci` there)
//! with browser-tests/oidc/provider.mjs and a configuration the test writes:
//! the node's client, and accounts with a real-name claim carrying an ID
//! number. It waits for the script's `OIDC_READY` line, never for time.
//! [`Browser`] keeps cookies as a browser does (both servers are on
//! 127.0.0.1, and cookies do not tell ports apart) and follows no redirect on
//! its own, so a test can stop at the redirect back to the node and replay,
//! swap or drop what it carries.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The client id and secret the node is registered with at the provider.
pub const CLIENT_ID: &str = "yimatong-test-node";
pub const CLIENT_SECRET: &str = "a-client-secret-for-tests-only";
/// The claim carrying the ID number.
pub const ID_NUMBER_CLAIM: &str = "id_number";
/// Only a failure waits this long: a provider that never says it is ready.
const READY_BOUND_SECS: u64 = 60;

pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    _dir: tempfile::TempDir,
}

fn browser_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../browser-tests")
}

impl OidcProvider {
    /// Starts the provider with the node's client (redirecting to
    /// `node_base`) and `accounts` (login → claims).
    pub async fn start(node_base: &str, accounts: Value) -> OidcProvider {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = json!({
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [format!("{node_base}/v1/session/oidc/callback")],
                "post_logout_redirect_uris": [format!("{node_base}/")],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
            }],
            "accounts": accounts,
            "identity_claims": [ID_NUMBER_CLAIM],
        });
        let config_path = dir.path().join("provider.json");
        std::fs::write(&config_path, config.to_string()).expect("the config is written");
        let script = browser_tests_dir().join("oidc/provider.mjs");
        assert!(
            browser_tests_dir()
                .join("node_modules/oidc-provider")
                .is_dir(),
            "oidc-provider is not installed: run `npm ci` in browser-tests/ (scripts/test.sh does)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(&script)
            .arg(&config_path)
            .current_dir(browser_tests_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (the tests need Node.js)");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = read_line_starting(&mut stdout, "OIDC_READY ").await;
        let ready: Value = serde_json::from_str(&line).expect("a JSON ready line");
        OidcProvider {
            issuer: ready["issuer"].as_str().expect("an issuer").to_owned(),
            child,
            stdin,
            stdout,
            _dir: dir,
        }
    }

    /// The provider puts a new signing key first (keeping the old one
    /// published), as a provider rotating its keys does. Returns its kid.
    pub async fn rotate_keys(&mut self) -> String {
        let stdin = self.stdin.as_mut().expect("the provider runs");
        stdin.write_all(b"rotate\n").await.expect("written");
        stdin.flush().await.expect("flushed");
        read_line_starting(&mut self.stdout, "OIDC_ROTATED ").await
    }

    /// Stops the provider and waits until it has exited.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn read_line_starting(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    let wait = async {
        loop {
            match lines.next_line().await.expect("the provider's output") {
                Some(line) if line.starts_with(prefix) => {
                    return line[prefix.len()..].to_owned();
                }
                Some(_) => {}
                None => panic!("the provider exited before `{prefix}`"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(READY_BOUND_SECS), wait)
        .await
        .unwrap_or_else(|_| panic!("the provider did not say `{prefix}`"))
}

/// A browser: a cookie jar (by name, as both servers share a host), no
/// automatic redirects.
pub struct Browser {
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// One answer: status, Location (absolute), body.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder, url: &str) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("Cookie", self.cookie_header())
        };
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let base = reqwest::Url::parse(url).expect("a URL");
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(|value| base.join(value).expect("a location").to_string());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let expired =
                    cookie.contains("Max-Age=0") || cookie.contains("expires=Thu, 01 Jan 1970");
                if value.is_empty() || expired {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let request = self.client.get(url);
        self.send(request, url).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(url).form(form);
        self.send(request, url).await
    }

    /// Starts a sign-in at the node and signs in as `login` on the
    /// provider's own login page; returns the URL the provider redirects
    /// back to (the node's callback with its code and state), not yet
    /// followed.
    pub async fn sign_in_at_provider(&mut self, node_base: &str, login: &str) -> String {
        self.sign_in_at_provider_via(node_base, "/v1/session/oidc/start", login)
            .await
    }

    /// As [`Browser::sign_in_at_provider`], from the console's start.
    pub async fn sign_in_to_console_at_provider(&mut self, node_base: &str, login: &str) -> String {
        self.sign_in_at_provider_via(node_base, "/v1/console/oidc/start", login)
            .await
    }

    /// A JSON request with the browser's cookies, as the node's own page
    /// sends it (`Origin` the node's), or as another site would (`origin`).
    pub async fn send_json(
        &mut self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        origin: &str,
    ) -> Page {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.client.request(method, url).header("Origin", origin);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).expect("json"));
        }
        self.send(request, url).await
    }

    async fn sign_in_at_provider_via(
        &mut self,
        node_base: &str,
        start_path: &str,
        login: &str,
    ) -> String {
        let start = self.get(&format!("{node_base}{start_path}")).await;
        assert_eq!(
            start.status, 303,
            "the node sends the browser to the provider: {}",
            start.body
        );
        let mut next = start.location.expect("a Location");
        let callback_prefix = format!("{node_base}/v1/session/oidc/callback");
        // Redirects, the login form, at most a few of each: a loop that
        // ends on the callback, or fails.
        for _ in 0..12 {
            if next.starts_with(&callback_prefix) {
                return next;
            }
            let page = self.get(&next).await;
            if let Some(location) = page.location {
                next = location;
                continue;
            }
            assert_eq!(page.status, 200, "the provider's page: {}", page.body);
            let action = form_action(&page.body).expect("the login page has a form");
            let action = reqwest::Url::parse(&next)
                .expect("a URL")
                .join(&action)
                .expect("an action")
                .to_string();
            let answer = if page.body.contains("name=\"login\"") {
                self.post_form(
                    &action,
                    &[("prompt", "login"), ("login", login), ("password", "any")],
                )
                .await
            } else {
                self.post_form(&action, &[("prompt", "consent")]).await
            };
            next = answer.location.unwrap_or_else(|| {
                panic!(
                    "the provider answered the form with {}: {}",
                    answer.status, answer.body
                )
            });
        }
        panic!("the provider never redirected back to the node");
    }
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("action=\"")? + "action=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}
