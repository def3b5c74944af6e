//! `yimatong keys|verify|dcc|bench token`: key management, verification of
//! `YMT1:` codes and EU DCCs, the dgc-testdata runner and the token
//! benchmark. Every command prints JSON on stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use ymt_core::{Color, PersonId, Timestamp};
use ymt_token::dcc::{self, DccSchema, DscCert};
use ymt_token::rand_core::OsRng;
use ymt_token::{
    Algorithm, Claims, KeyStore, SignedTrustList, TrustEntry, TrustList, VerifyingKey,
    trust::SignerInfo,
};

const KEYS_DIR_DEFAULT: &str = "./data/keys";
const ISSUER_DEFAULT: &str = "ymt:cn";
/// Largest file read from the command line (trust lists, images, certs).
const INPUT_FILE_LEN_MAX: u64 = 16 * 1024 * 1024;

#[derive(clap::Args)]
pub struct KeysDirArg {
    /// Directory of the key store.
    #[arg(long, default_value = KEYS_DIR_DEFAULT)]
    keys_dir: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Add a key; it becomes the signing key if there is none yet.
    Generate {
        #[command(flatten)]
        dir: KeysDirArg,
        /// es256 or eddsa.
        #[arg(long, default_value = "eddsa")]
        alg: String,
        #[arg(long, default_value = ISSUER_DEFAULT)]
        issuer: String,
    },
    /// Make a new key the signing key and retire the current one.
    Rotate {
        #[command(flatten)]
        dir: KeysDirArg,
        #[arg(long, default_value = "eddsa")]
        alg: String,
        #[arg(long, default_value = ISSUER_DEFAULT)]
        issuer: String,
    },
    /// Set the longest lifetime of the codes this store signs. Trust lists
    /// it exports carry it, and verifiers refuse longer-lived codes
    /// (default 300 s, at most 86,400 s).
    SetTtl {
        #[command(flatten)]
        dir: KeysDirArg,
        #[arg(long)]
        secs: i64,
    },
    /// List keys with their state.
    List {
        #[command(flatten)]
        dir: KeysDirArg,
    },
    /// Sign and print the trust list of the store's keys.
    ExportTrustList {
        #[command(flatten)]
        dir: KeysDirArg,
        /// Write the signed trust list here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the trust-list signer's public key (the trust anchor).
        #[arg(long)]
        anchor_out: Option<PathBuf>,
        /// A JSON array of other regional systems' trust entries to include.
        #[arg(long)]
        extra: Option<PathBuf>,
    },
    /// Issue a code with the current signing key (for testing scanners).
    Issue {
        #[command(flatten)]
        dir: KeysDirArg,
        #[arg(long)]
        person: String,
        /// green, yellow or red.
        #[arg(long, default_value = "green")]
        color: String,
        #[arg(long, default_value = "张*")]
        name: String,
        #[arg(long, default_value = "rules-1")]
        rule_set_version: String,
        #[arg(long, default_value_t = ymt_token::TOKEN_TTL_SECS_DEFAULT)]
        ttl_secs: i64,
        /// Issue as of this instant instead of now (RFC 3339).
        #[arg(long)]
        clock: Option<String>,
        /// Also write the QR code as PNG here.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Write any text as a QR code PNG (for testing scanners and cameras,
    /// e.g. with a damaged code); needs no key.
    Qr {
        /// The text, e.g. a code with one character changed.
        text: String,
        #[arg(long)]
        png: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The code text (YMT1:… or HC1:…).
    token: Option<String>,
    /// Read the code from a QR code in a PNG or JPEG file.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Verify against this signed trust list instead of the key store.
    #[arg(long)]
    trust_list: Option<PathBuf>,
    /// Pin the trust-list signer (a file written by `keys export-trust-list
    /// --anchor-out`); without it the list's own signer key is used, which
    /// proves integrity only.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
    /// Verify as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    clock: Option<String>,
    /// The node's data directory: its key store `DATA/keys` is used. Works
    /// from any directory (the default is `./data/keys`).
    #[arg(long, conflicts_with = "keys_dir")]
    data: Option<PathBuf>,
    /// The key store directory itself.
    #[arg(long)]
    keys_dir: Option<PathBuf>,
    /// Signer certificate for HC1: codes.
    #[arg(long)]
    cert: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum DccCommand {
    /// Verify one HC1: text and print the step report and payload.
    Verify {
        text: String,
        /// Signer certificate: PEM, base64 DER or binary DER.
        #[arg(long)]
        cert: Vec<PathBuf>,
        /// Directory with DCC.combined-schema.json.
        #[arg(long)]
        schema_dir: Option<PathBuf>,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long)]
        clock: Option<String>,
    },
    /// Run dgc-testdata shaped directories; ends with `N passed, M failed, K skipped`.
    Test {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// List every failure (and skip) with file and step.
        #[arg(long)]
        verbose: bool,
        #[arg(long)]
        schema_dir: Option<PathBuf>,
        /// Count failures listed in known_issues.csv as failures, not skips.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(clap::Args)]
pub struct BenchTokenArgs {
    /// Seconds spent on each measurement.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
}

fn now_or(clock: Option<&str>) -> anyhow::Result<Timestamp> {
    match clock {
        Some(text) => Timestamp::parse_rfc3339(text).context("--clock"),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("system clock before 1970")?
                .as_secs();
            Ok(Timestamp::from_unix_secs(i64::try_from(secs)?)?)
        }
    }
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
    if meta.len() > INPUT_FILE_LEN_MAX {
        bail!(
            "{}: {} bytes, at most {INPUT_FILE_LEN_MAX}",
            path.display(),
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| path.display().to_string())
}

fn print_json<T: ymt_token::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn run_keys(command: KeysCommand) -> anyhow::Result<ExitCode> {
    let now = now_or(None)?;
    match command {
        KeysCommand::Generate { dir, alg, issuer } => {
            let mut store = KeyStore::open(&dir.keys_dir)?;
            let record = store.generate(Algorithm::parse(&alg)?, &issuer, now, &mut OsRng)?;
            print_json(&json!({ "generated": record, "signing_kid": store.signing_kid() }))?;
        }
        KeysCommand::Rotate { dir, alg, issuer } => {
            let mut store = KeyStore::open(&dir.keys_dir)?;
            let (new, retired) = store.rotate(Algorithm::parse(&alg)?, &issuer, now, &mut OsRng)?;
            let trusted_until = retired
                .as_ref()
                .and_then(|r| r.trusted_until(store.retired_key_trusted_secs()));
            print_json(&json!({
                "signing": new,
                "retired": retired,
                "retired_trusted_until": trusted_until,
            }))?;
        }
        KeysCommand::SetTtl { dir, secs } => {
            let mut store = KeyStore::open(&dir.keys_dir)?;
            store.set_max_token_ttl_secs(secs)?;
            print_json(&json!({ "max_token_ttl_secs": store.max_token_ttl_secs() }))?;
        }
        KeysCommand::List { dir } => {
            let store = KeyStore::open(&dir.keys_dir)?;
            let ttl = store.max_token_ttl_secs();
            let trusted_secs = store.retired_key_trusted_secs();
            let keys: Vec<_> = store
                .keys()
                .iter()
                .map(|record| {
                    let state = if record.revoked_at.is_some() {
                        "revoked"
                    } else if Some(&record.kid) == store.signing_kid() {
                        "signing"
                    } else if record.retired_at.is_none() {
                        "active"
                    } else if record.trusted_until(trusted_secs).is_some_and(|until| until > now) {
                        "retired"
                    } else {
                        "expired"
                    };
                    json!({ "state": state, "key": record, "trusted_until": record.trusted_until(trusted_secs) })
                })
                .collect();
            print_json(&json!({
                "signing_kid": store.signing_kid(),
                "max_token_ttl_secs": ttl,
                "keys": keys,
            }))?;
        }
        KeysCommand::ExportTrustList {
            dir,
            out,
            anchor_out,
            extra,
        } => {
            let mut store = KeyStore::open(&dir.keys_dir)?;
            let extra: Vec<TrustEntry> = match extra {
                Some(path) => serde_json::from_slice(&read_bounded(&path)?)
                    .with_context(|| format!("{}: trust entries", path.display()))?,
                None => Vec::new(),
            };
            let signed = store.export_trust_list(now, extra, &mut OsRng)?;
            let text = signed.to_json_pretty();
            match out {
                Some(path) => std::fs::write(&path, text + "\n")
                    .with_context(|| path.display().to_string())?,
                None => println!("{text}"),
            }
            if let Some(path) = anchor_out {
                let anchor = serde_json::to_string_pretty(&signed.signer)?;
                std::fs::write(&path, anchor + "\n").with_context(|| path.display().to_string())?;
            }
        }
        KeysCommand::Issue {
            dir,
            person,
            color,
            name,
            rule_set_version,
            ttl_secs,
            clock,
            png,
        } => {
            let store = KeyStore::open(&dir.keys_dir)?;
            let key = store.signing_key()?;
            let issued_at = now_or(clock.as_deref())?;
            let issuer = store
                .keys()
                .iter()
                .find(|record| &record.kid == key.kid())
                .map(|record| record.issuer.clone())
                .unwrap_or_else(|| ISSUER_DEFAULT.into());
            let claims = Claims {
                issuer,
                issued_at,
                expires_at: issued_at.plus_secs(ttl_secs),
                person: PersonId::parse(&person)?,
                color: Color::parse(&color).context("--color must be green, yellow or red")?,
                masked_name: name,
                rule_set_version,
                color_valid_until: None,
                kind: ymt_token::CodeKind::Phone,
            };
            let token = ymt_token::issue(&claims, &key)?;
            if let Some(path) = png {
                std::fs::write(&path, ymt_token::render_qr_png(&token)?)
                    .with_context(|| path.display().to_string())?;
            }
            println!("{token}");
        }
        KeysCommand::Qr { text, png } => {
            std::fs::write(&png, ymt_token::render_qr_png(&text)?)
                .with_context(|| png.display().to_string())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_signed_trust_list(
    path: &Path,
    anchor: Option<&Path>,
) -> anyhow::Result<(TrustList, &'static str)> {
    let text = String::from_utf8(read_bounded(path)?).context("trust list is not UTF-8")?;
    let signed = SignedTrustList::from_json(&text)?;
    match anchor {
        Some(anchor) => {
            let info: SignerInfo = serde_json::from_slice(&read_bounded(anchor)?)
                .with_context(|| format!("{}: trust anchor", anchor.display()))?;
            let key: VerifyingKey = info.verifying_key()?;
            Ok((signed.verify(&key)?, "pinned"))
        }
        None => Ok((
            signed.verify_with_embedded_signer()?,
            "embedded (not pinned)",
        )),
    }
}

pub fn run_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let token = match (&args.token, &args.image) {
        (Some(token), None) => token.trim().to_owned(),
        (None, Some(image)) => ymt_token::decode_qr_image(&read_bounded(image)?)?,
        _ => bail!("give either a TOKEN or --image FILE"),
    };
    let now = now_or(args.clock.as_deref())?;
    if token.starts_with(dcc::DCC_PREFIX) {
        let certs = load_certs(args.cert.as_slice())?;
        let schema = default_schema_dir(None).and_then(|dir| DccSchema::load(&dir).ok());
        let report = dcc::verify_dcc(&token, &certs, schema.as_ref(), now);
        eprintln!("{}", dcc_verdict_line(&report));
        print_json(&report)?;
        return Ok(if report.valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    // A list checked only against the signer key it names itself proves
    // integrity, not origin: anyone can sign a list with their own key. The
    // key store is the operator's own; a file needs a pinned anchor.
    let (trust, trust_source, trusted) = match &args.trust_list {
        Some(path) => {
            let (list, anchor) = load_signed_trust_list(path, args.trust_anchor.as_deref())?;
            let pinned = args.trust_anchor.is_some();
            (
                list,
                format!("{} (signer {anchor})", path.display()),
                pinned,
            )
        }
        None => {
            let keys_dir = match (&args.keys_dir, &args.data) {
                (Some(keys_dir), _) => keys_dir.clone(),
                (None, Some(data)) => data.join("keys"),
                (None, None) => PathBuf::from(KEYS_DIR_DEFAULT),
            };
            // An absent key store would verify nothing and say only
            // "invalid": say where it looked and how to point it elsewhere.
            if !keys_dir.is_dir() {
                bail!(
                    "no key store at {}: pass --data DIR (the node's data directory), \
                     --keys-dir DIR or --trust-list FILE",
                    keys_dir.display()
                );
            }
            let store = KeyStore::open(&keys_dir)?;
            (
                store.trust_list(now)?,
                format!("key store {}", keys_dir.display()),
                true,
            )
        }
    };
    let report = ymt_token::verify(&token, &trust, now);
    let valid = report.valid && trusted;
    let verdict = match (report.valid, trusted) {
        (_, false) => "untrusted",
        (true, true) => "valid",
        (false, true) => "invalid",
    };
    let mut output = json!({
        "now": now,
        "trust": trust_source,
        "valid": valid,
        "verdict": verdict,
        "report": report,
    });
    // The verdict comes first, on stderr, so a person reads it at a glance
    // and stdout stays one JSON document for scripts.
    eprintln!("{}", verdict_line(&report, trusted));
    if !trusted {
        output["reason"] = json!(
            "the trust list's signer is not pinned: pass --trust-anchor FILE \
             (written by `keys export-trust-list --anchor-out`)"
        );
    }
    print_json(&output)?;
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line a person at a terminal reads first: the verdict, then what
/// matters for it (the color and holder, or the step that failed).
fn verdict_line(report: &ymt_token::VerificationReport, trusted: bool) -> String {
    match (&report.claims, report.failed_step()) {
        (Some(claims), None) if trusted => format!(
            "VALID: {} code of {}, expires {} (issuer {}, rule set {})",
            claims.color,
            claims.masked_name,
            claims.expires_at,
            claims.issuer,
            claims.rule_set_version
        ),
        (_, None) if !trusted => {
            "UNTRUSTED: the signature checks, but the trust list's signer is not pinned \
             (--trust-anchor FILE)"
                .to_owned()
        }
        _ => {
            let failed = report
                .steps
                .iter()
                .find(|outcome| outcome.status == ymt_token::StepStatus::Failed);
            match failed {
                Some(outcome) => format!(
                    "INVALID: the {} step failed: {}",
                    serde_name(&outcome.step),
                    outcome.detail
                ),
                None => "INVALID".to_owned(),
            }
        }
    }
}

fn dcc_verdict_line(report: &dcc::DccReport) -> String {
    if report.valid {
        return "VALID: EU Digital COVID Certificate".to_owned();
    }
    match report
        .steps
        .iter()
        .find(|outcome| outcome.status == ymt_token::StepStatus::Failed)
    {
        Some(outcome) => format!(
            "INVALID: EU Digital COVID Certificate, the {} step failed: {}",
            serde_name(&outcome.step),
            outcome.detail
        ),
        None => "INVALID: EU Digital COVID Certificate".to_owned(),
    }
}

/// A step's name as the JSON report spells it (`cose_structure`).
fn serde_name(step: &impl serde::Serialize) -> String {
    serde_json::to_value(step)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn load_certs(paths: &[PathBuf]) -> anyhow::Result<Vec<DscCert>> {
    paths
        .iter()
        .map(|path| {
            let bytes = read_bounded(path)?;
            let cert = match std::str::from_utf8(&bytes) {
                Ok(text) => DscCert::from_base64(text),
                Err(_) => DscCert::from_der(&bytes),
            };
            cert.with_context(|| path.display().to_string())
        })
        .collect()
}

/// The eu-dcc-schema directory: the flag, else `$YMT_CONFORMANCE_DIR`, else
/// beside the first test directory, else `../shared/external`.
fn default_schema_dir(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(flag) = flag {
        return Some(flag.to_path_buf());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("YMT_CONFORMANCE_DIR") {
        candidates.push(PathBuf::from(dir).join("eu-dcc-schema"));
    }
    candidates.push(PathBuf::from("../shared/external/eu-dcc-schema"));
    candidates.push(PathBuf::from("shared/external/eu-dcc-schema"));
    candidates
        .into_iter()
        .find(|dir| dir.join(dcc::SCHEMA_FILE).is_file())
}

pub fn run_dcc(command: DccCommand) -> anyhow::Result<ExitCode> {
    match command {
        DccCommand::Verify {
            text,
            cert,
            schema_dir,
            clock,
        } => {
            let now = now_or(clock.as_deref())?;
            let certs = load_certs(&cert)?;
            let schema = match default_schema_dir(schema_dir.as_deref()) {
                Some(dir) => Some(DccSchema::load(&dir)?),
                None => None,
            };
            let report = dcc::verify_dcc(text.trim(), &certs, schema.as_ref(), now);
            print_json(&report)?;
            Ok(if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        DccCommand::Test {
            dirs,
            verbose,
            schema_dir,
            strict,
        } => {
            let schema_dir = default_schema_dir(schema_dir.as_deref()).or_else(|| {
                let beside = dirs.first()?.parent()?.join("eu-dcc-schema");
                beside.join(dcc::SCHEMA_FILE).is_file().then_some(beside)
            });
            let schema = match &schema_dir {
                Some(dir) => Some(DccSchema::load(dir)?),
                None => {
                    eprintln!("no eu-dcc-schema found: schema checks are skipped");
                    None
                }
            };
            let result = dcc::suite::run_suite(&dirs, schema.as_ref(), strict);
            if verbose {
                for assertion in &result.assertions {
                    match &assertion.outcome {
                        dcc::suite::Outcome::Passed => {}
                        dcc::suite::Outcome::Failed { detail } => println!(
                            "FAILED {} {}: {detail}",
                            assertion.file.display(),
                            assertion.flag
                        ),
                        dcc::suite::Outcome::Skipped { reason } => println!(
                            "skipped {} {}: {reason}",
                            assertion.file.display(),
                            assertion.flag
                        ),
                    }
                }
            }
            if verbose {
                for (flag, (passed, failed, skipped)) in dcc::suite::by_flag(&result) {
                    // Worded unlike the closing line, which must stay the only
                    // `N passed, M failed, K skipped` line.
                    println!("flag {flag}: passed={passed} failed={failed} skipped={skipped}");
                }
            }
            println!("{}", result.summary_line());
            Ok(if result.failed() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Runs `work` repeatedly for about `seconds` and returns operations per second.
fn rate(seconds: f64, mut work: impl FnMut()) -> f64 {
    let budget = Duration::from_secs_f64(seconds.max(0.01));
    let started = Instant::now();
    let mut operations: u64 = 0;
    while started.elapsed() < budget {
        for _ in 0..16 {
            work();
        }
        operations += 16;
    }
    operations as f64 / started.elapsed().as_secs_f64()
}

pub fn run_bench(args: BenchTokenArgs) -> anyhow::Result<ExitCode> {
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")?;
    let claims = Claims {
        issuer: "ymt:44".into(),
        issued_at: now,
        expires_at: now.plus_secs(ymt_token::TOKEN_TTL_SECS_DEFAULT),
        person: PersonId::parse("p-5f2c9a61d0b34e7a8c1f")?,
        color: Color::Green,
        masked_name: "张*三".into(),
        rule_set_version: "2026.01-r3".into(),
        color_valid_until: None,
        kind: ymt_token::CodeKind::Phone,
    };
    let mut algorithms = serde_json::Map::new();
    let mut sample_token = String::new();
    for algorithm in [Algorithm::EdDsa, Algorithm::Es256] {
        let key = ymt_token::SigningKey::generate(algorithm, &mut OsRng);
        let trust = TrustList::from_keys("ymt:44", &[key.verifying_key()]);
        let token = ymt_token::issue(&claims, &key)?;
        let message = vec![0x5a_u8; 160];
        let signature = key.sign(&message);
        let public = key.verifying_key();
        let raw_signs = rate(args.seconds, || {
            std::hint::black_box(key.sign(std::hint::black_box(&message)));
        });
        let raw_verifies = rate(args.seconds, || {
            assert!(public.verify(std::hint::black_box(&message), &signature));
        });
        let token_signs = rate(args.seconds, || {
            std::hint::black_box(ymt_token::issue(&claims, &key).ok());
        });
        let token_verifies = rate(args.seconds, || {
            assert!(ymt_token::verify(std::hint::black_box(&token), &trust, now).valid);
        });
        algorithms.insert(
            algorithm.as_str().into(),
            json!({
                "token_len_chars": token.len(),
                "token_signs_per_sec": raw_round(token_signs),
                "token_verifies_per_sec": raw_round(token_verifies),
                "raw_signs_per_sec": raw_round(raw_signs),
                "raw_verifies_per_sec": raw_round(raw_verifies),
            }),
        );
        if algorithm == ymt_token::DEFAULT_ALGORITHM {
            sample_token = token;
        }
    }
    let svg_per_sec = rate(args.seconds, || {
        std::hint::black_box(ymt_token::render_qr_svg(&sample_token).ok());
    });
    let png_per_sec = rate(args.seconds, || {
        std::hint::black_box(ymt_token::render_qr_png(&sample_token).ok());
    });
    let png = ymt_token::render_qr_png(&sample_token)?;
    let decode_per_sec = rate(args.seconds, || {
        std::hint::black_box(ymt_token::decode_qr_image(&png).ok());
    });
    print_json(&json!({
        "threads": 1,
        "seconds_per_measurement": args.seconds,
        "default_algorithm": ymt_token::DEFAULT_ALGORITHM.as_str(),
        "algorithms": algorithms,
        "qr": {
            "render_svg_micros": raw_round(1e6 / svg_per_sec),
            "render_png_micros": raw_round(1e6 / png_per_sec),
            "decode_png_micros": raw_round(1e6 / decode_per_sec),
            "png_bytes": png.len(),
        },
    }))?;
    Ok(ExitCode::SUCCESS)
}

fn raw_round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
