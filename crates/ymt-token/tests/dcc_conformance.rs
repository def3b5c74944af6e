//! The dgc-testdata suite: at least 99% of the assertions must pass.
//! Vectors come from `$YMT_CONFORMANCE_DIR` or `<workspace>/../shared/external`.

use std::path::PathBuf;

use ymt_token::dcc::{DccSchema, suite};

fn external_dir() -> PathBuf {
    match std::env::var_os("YMT_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/external"),
    }
}

#[test]
fn dgc_testdata_passes() {
    let external = external_dir();
    let testdata = external.join("dgc-testdata");
    if !testdata.is_dir() {
        println!("skipped: {} not found", testdata.display());
        return;
    }
    let schema = DccSchema::load(&external.join("eu-dcc-schema")).ok();
    if schema.is_none() {
        println!("note: eu-dcc-schema not found; schema assertions are skipped");
    }
    let result = suite::run_suite(&[testdata], schema.as_ref(), false);
    for assertion in &result.assertions {
        if let suite::Outcome::Failed { detail } = &assertion.outcome {
            println!(
                "FAILED {} {}: {detail}",
                assertion.file.display(),
                assertion.flag
            );
        }
    }
    println!("{}", result.summary_line());
    let counted = result.passed() + result.failed();
    assert!(counted > 1000, "too few assertions ran: {counted}");
    assert!(
        result.passed() * 100 >= counted * 99,
        "{} of {counted} passed, below 99%",
        result.passed()
    );
}

#[test]
fn summaries_of_verified_certificates() {
    use ymt_token::dcc::{self, DccEntry, DscCert};
    let dir = external_dir().join("dgc-testdata/DE/2DCode/raw");
    if !dir.is_dir() {
        println!("skipped: {} not found", dir.display());
        return;
    }
    let check = |file: &str, expect: fn(&DccEntry) -> bool| {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let test: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cert = DscCert::from_base64(test["TESTCTX"]["CERTIFICATE"].as_str().unwrap()).unwrap();
        let clock =
            suite::parse_clock(test["TESTCTX"]["VALIDATIONCLOCK"].as_str().unwrap()).unwrap();
        let report = dcc::verify_dcc(test["PREFIX"].as_str().unwrap(), &[cert], None, clock);
        assert!(report.valid, "{file}: {:?}", report.steps);
        let summary = report.summary.expect("a verified DCC has a summary");
        assert_eq!(summary.issuing_country.as_deref(), Some("DE"));
        assert_eq!(summary.entries.len(), 1);
        assert!(
            expect(&summary.entries[0]),
            "{file}: {:?}",
            summary.entries[0]
        );
    };
    check("1.json", |entry| {
        matches!(
            entry,
            DccEntry::Vaccination {
                dose_number: 2,
                total_doses: 2,
                ..
            }
        )
    });
    check("2.json", |entry| {
        matches!(
            entry,
            DccEntry::Test {
                positive: false,
                ..
            }
        )
    });
    check("3.json", |entry| matches!(entry, DccEntry::Recovery { .. }));
}
