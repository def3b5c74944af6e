//! Fuzzes the CSV importers (`checkins.csv`, `positives.csv`) and the line
//! parser. A refused import must leave the id tables as they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ymt_trace::csv::{parse_checkin_line, parse_checkins_csv, parse_positives_csv};
use ymt_trace::{ImportOptions, Interner};

fuzz_target!(|data: &[u8]| {
    let _ = parse_checkin_line(data);
    let _ = parse_positives_csv(data);
    for skip_bad in [false, true] {
        let mut persons = Interner::new();
        let mut venues = Interner::new();
        let options = ImportOptions {
            skip_bad,
            ..ImportOptions::default()
        };
        match parse_checkins_csv(data, &mut persons, &mut venues, &options, &mut |_| {}) {
            Ok((stays, report)) => {
                assert!(stays.len() as u64 <= report.checkins);
                assert!(report.skipped_errors.len() <= options.errors_kept_max);
            }
            Err(_) => {
                assert_eq!(persons.len(), 0, "a refused import interned persons");
                assert_eq!(venues.len(), 0, "a refused import interned venues");
            }
        }
    }
});
