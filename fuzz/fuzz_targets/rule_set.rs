//! Fuzzes rule-set publication and regional profiles: every publish-time
//! check (JSON, schema, CertLogic compile, parameter bounds) on bytes a
//! national admin or a regional authority uploads.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ymt_rules::ruleset::RuleSet;

fuzz_target!(|data: &[u8]| {
    if let Ok(rules) = RuleSet::publish(data) {
        let defaults = rules.default_parameters();
        let _ = rules.parameters_with(None);
        assert_eq!(rules.parameters_with(None), defaults);
    }
    // Compiled once: the national set is the fixed base every profile names.
    static NATIONAL: OnceLock<RuleSet> = OnceLock::new();
    let national = NATIONAL.get_or_init(RuleSet::national);
    if let Ok(profile) = national.check_profile(data) {
        let _ = national.parameters_with(Some(&profile));
    }
});
