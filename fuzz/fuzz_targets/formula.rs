//! The scaling-modifier formula parser and evaluator on arbitrary text.
//!
//! The input's first byte is a seed, the rest the formula. When the formula parses, each of
//! its variables gets a value derived from the seed and its name (a number, 0, a huge number,
//! NaN, an infinity, or none: a failed trigger), and the formula is evaluated.
//!
//! Checks: no panic, no hang (the parser bounds nesting, so no stack overflow); a parse error's
//! position lies on a character boundary of the source; an evaluation gives a finite number
//! or an error without a position; the variables are sorted, deduplicated, and the only names
//! looked up.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalers_core::formula::Formula;

/// The value of trigger `name` under `seed`.
fn value(seed: u8, name: &str) -> Option<f64> {
    let mix = name.bytes().fold(u32::from(seed), |h, b| {
        h.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    match mix % 8 {
        0 => None,
        1 => Some(0.0),
        2 => Some(-1.5),
        3 => Some(1e308),
        4 => Some(f64::NAN),
        5 => Some(f64::INFINITY),
        6 => Some(f64::from(mix % 1000)),
        _ => Some(f64::from(mix) / 7.0),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let Ok(source) = std::str::from_utf8(rest) else {
        return;
    };
    match Formula::parse(source) {
        Ok(formula) => {
            let variables = formula.variables();
            assert!(variables.windows(2).all(|w| w[0] < w[1]), "{variables:?}");
            let lookup = |name: &str| {
                assert!(
                    variables.contains(&name),
                    "{name:?} is not in {variables:?}"
                );
                value(seed, name)
            };
            match formula.eval(&lookup) {
                Ok(n) => assert!(n.is_finite(), "{source:?} gave {n}"),
                Err(e) => assert!(!e.message.is_empty() && e.position.is_none(), "{e:?}"),
            }
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "{source:?}");
            if let Some(position) = e.position {
                assert!(source.is_char_boundary(position), "{source:?}: {e:?}");
            }
        }
    }
});
