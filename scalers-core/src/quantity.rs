//! Kubernetes quantities (`"42"`, `"2.5"`, `"500m"`, `"1Ki"`, `"1e3"`) as numbers: the one
//! parser for the config loader (`tolerance`) and the triggers (the `metrics-api` value).
//!
//! The grammar is the one the Kubernetes API reference gives for `resource.Quantity`:
//!
//! ```text
//! quantity        ::= signedNumber suffix
//! signedNumber    ::= number | sign number          sign ::= "+" | "-"
//! number          ::= digits | digits "." digits | digits "." | "." digits
//! suffix          ::= binarySI | decimalExponent | decimalSI
//! binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! decimalSI       ::= n | u | m | "" | k | M | G | T | P | E
//! decimalExponent ::= ("e" | "E") sign? digits
//! ```
//!
//! Where it differs from Kubernetes, and why:
//! - `n` and `u` are accepted, as apimachinery's parser does (its reference grammar omits them);
//! - the exponent is an integer (`1e1.5` is refused), as apimachinery's parser reads it;
//! - the value is a float, not Kubernetes' fixed point: `0.1m` is 0.0001, not rounded up to
//!   `1m`, and a magnitude beyond what a float holds (`1e999`) is refused where Kubernetes caps
//!   it at 2^63-1; negative powers of ten divide, so `500m` is exactly the float nearest 0.5;
//! - no spaces, no `NaN`, no infinities, no hexadecimal, no `_` separators.

/// The value of a Kubernetes quantity string, approximated as a float; `None` when `s` is not
/// a quantity (see the [module docs](self) for the grammar).
///
/// # Examples
///
/// ```
/// use scalers_core::quantity::parse;
///
/// assert_eq!(parse("500m"), Some(0.5));
/// assert_eq!(parse("1Ki"), Some(1024.0));
/// assert_eq!(parse("ten"), None);
/// ```
pub fn parse(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (digits, suffix) = unsigned.split_at(number_len);
    if !digits.bytes().any(|b| b.is_ascii_digit()) || digits.matches('.').count() > 1 {
        return None;
    }
    let number: f64 = s[..s.len() - suffix.len()].parse().ok()?;
    // Negative powers of ten divide, so that `500m` is exactly the float nearest to 0.5.
    let (multiply, divide) = match suffix {
        "" => (1.0, 1.0),
        "n" => (1.0, 1e9),
        "u" => (1.0, 1e6),
        "m" => (1.0, 1e3),
        "k" => (1e3, 1.0),
        "M" => (1e6, 1.0),
        "G" => (1e9, 1.0),
        "T" => (1e12, 1.0),
        "P" => (1e15, 1.0),
        "E" => (1e18, 1.0),
        "Ki" => (1024.0, 1.0),
        "Mi" => (1024f64.powi(2), 1.0),
        "Gi" => (1024f64.powi(3), 1.0),
        "Ti" => (1024f64.powi(4), 1.0),
        "Pi" => (1024f64.powi(5), 1.0),
        "Ei" => (1024f64.powi(6), 1.0),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let exponent: i32 = exponent.parse().ok()?;
            let power = 10f64.powi(exponent.checked_abs()?);
            if exponent < 0 {
                (1.0, power)
            } else {
                (power, 1.0)
            }
        }
    };
    let value = number * multiply / divide;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Every form of the grammar, and the edge cases where the two former parsers (the config
    /// loader's and the `metrics-api` trigger's) could have differed.
    #[test]
    fn the_kubernetes_grammar_table() {
        let table: &[(&str, Option<f64>)] = &[
            // <digits>, <digits>.<digits>, <digits>., .<digits>, with and without a sign
            ("42", Some(42.0)),
            ("0", Some(0.0)),
            ("1.5", Some(1.5)),
            ("0.05", Some(0.05)),
            ("1.", Some(1.0)),
            ("5.", Some(5.0)),
            (".5", Some(0.5)),
            ("-1", Some(-1.0)),
            ("-3", Some(-3.0)),
            ("+1", Some(1.0)),
            ("+2.5", Some(2.5)),
            ("-.5", Some(-0.5)),
            // decimal SI
            ("3n", Some(3e-9)),
            ("250u", Some(0.00025)),
            ("3u", Some(3e-6)),
            ("500m", Some(0.5)),
            ("50m", Some(0.05)),
            ("0.1m", Some(0.0001)),
            ("2k", Some(2000.0)),
            ("2M", Some(2e6)),
            ("1G", Some(1e9)),
            ("1T", Some(1e12)),
            ("1P", Some(1e15)),
            ("1E", Some(1e18)),
            // binary SI
            ("1Ki", Some(1024.0)),
            ("2Mi", Some(2.0 * 1024.0 * 1024.0)),
            ("1Gi", Some(1024f64.powi(3))),
            ("1.5Gi", Some(1.5 * 1024f64.powi(3))),
            ("1Ei", Some(1024f64.powi(6))),
            // decimal exponents
            ("2e3", Some(2000.0)),
            ("1e3", Some(1000.0)),
            ("1E2", Some(100.0)),
            ("1e-1", Some(0.1)),
            ("15E-1", Some(1.5)),
            ("1e+2", Some(100.0)),
            // not quantities
            ("", None),
            (".", None),
            ("-", None),
            ("+", None),
            ("m", None),
            ("Ki", None),
            ("1.2.3", None),
            ("+-1", None),
            ("1-2", None),
            ("5x", None),
            ("1K", None),
            ("1ki", None),
            ("1e", None),
            ("1e+", None),
            ("1e1.5", None),
            ("1 m", None),
            ("50M i", None),
            (" 42", None),
            ("42 ", None),
            ("ten", None),
            ("NaN", None),
            ("inf", None),
            ("Infinity", None),
            ("0x10", None),
            ("1_000", None),
            // overflow: beyond a float, refused rather than infinite
            ("1e999", None),
            ("1e400", None),
            ("1e2147483648", None),
            (
                "999999999999999999999999Ei",
                Some(999999999999999999999999.0 * 1024f64.powi(6)),
            ),
        ];
        for (text, expected) in table {
            assert_eq!(parse(text), *expected, "{text:?}");
        }
    }
}
