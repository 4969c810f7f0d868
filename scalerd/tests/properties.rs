//! Property tests of the trace parser: no panic on any input, and well-formed traces parse back
//! to their values.

use proptest::prelude::*;
use scalerd::tools::simulate::Trace;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_trace_parser_never_panics(text in "[ -~\n]{0,200}") {
        let _ = Trace::parse(&text, "t.csv");
    }

    #[test]
    fn well_formed_traces_parse_to_their_values(rows in prop::collection::vec(proptest::option::of(0u32..100_000), 1..30)) {
        let mut text = String::from("time,q\n");
        for (i, v) in rows.iter().enumerate() {
            let cell = v.map_or_else(|| "error".to_owned(), |v| v.to_string());
            text.push_str(&format!("{},{cell}\n", i * 5));
        }
        let trace = Trace::parse(&text, "t.csv").unwrap();
        prop_assert_eq!(trace.rows.len(), rows.len());
        for (row, v) in trace.rows.iter().zip(&rows) {
            prop_assert_eq!(row.values[0], v.map(f64::from));
        }
    }
}
