//! The `scalerd simulate` trace parser (CSV: `time,<trigger>,...`) on arbitrary text.
//!
//! Checks: no panic, no hang; an error names the file and a line of the input; a trace that
//! parses has at least one row, one value per column in every row, strictly increasing times
//! and only finite values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalerd::tools::simulate::Trace;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Trace::parse(text, "t.csv") {
        Ok(trace) => {
            assert!(!trace.rows.is_empty() && !trace.columns.is_empty());
            for pair in trace.rows.windows(2) {
                assert!(pair[0].at < pair[1].at);
            }
            for row in &trace.rows {
                assert_eq!(row.values.len(), trace.columns.len());
                assert!(row.values.iter().flatten().all(|v| v.is_finite()));
            }
        }
        Err(e) => {
            let scalerd::Error::Trace {
                file,
                line,
                message,
            } = &e
            else {
                panic!("not a trace error: {e:?}");
            };
            assert_eq!(file, "t.csv");
            assert!(*line >= 1 && *line <= text.lines().count().max(1), "{e:?}");
            assert!(!message.is_empty());
        }
    }
});
