//! Numeric strings as KEDA reads them: Kubernetes quantities (`"42"`, `"2.5"`, `"500m"`,
//! `"1Ki"`, `"1e3"`).

/// The value of a Kubernetes quantity string, approximated as a float.
///
/// The grammar is Kubernetes': an optional sign, digits with at most one decimal point, then
/// one optional suffix: a decimal SI prefix (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`), a
/// binary one (`Ki` … `Ei`), or a decimal exponent (`e3`, `E-2`). No spaces, no `NaN`, no
/// infinities.
pub(crate) fn parse(s: &str) -> Option<f64> {
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

    #[test]
    fn numbers_and_suffixes() {
        for (text, value) in [
            ("42", 42.0),
            ("-3", -3.0),
            ("+2.5", 2.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("500m", 0.5),
            ("250u", 0.00025),
            ("3k", 3000.0),
            ("2M", 2e6),
            ("1E", 1e18),
            ("1Ki", 1024.0),
            ("2Mi", 2.0 * 1024.0 * 1024.0),
            ("1e3", 1000.0),
            ("15E-1", 1.5),
            ("0", 0.0),
        ] {
            assert_eq!(parse(text), Some(value), "{text}");
        }
    }

    #[test]
    fn everything_else_is_not_a_number() {
        for text in [
            "", "ten", " 42", "42 ", "1.2.3", ".", "-", "NaN", "inf", "Infinity", "1K", "1ki",
            "1e", "1e+", "1e1.5", "0x10", "1_000", "1e999",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
