//! Splits a formula's source into tokens.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Tok<'s> {
    Num(f64),
    Ident(&'s str),
    True,
    False,
    Nil,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Pow,
    EqEq,
    NotEq,
    /// `!` or `not`.
    Bang,
    Lt,
    Le,
    Gt,
    Ge,
    /// `&&` or `and`.
    AndAnd,
    /// `||` or `or`.
    OrOr,
    Coalesce,
    Question,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `#`, the element in a predicate.
    Hash,
    Comma,
    End,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token<'s> {
    pub(super) kind: Tok<'s>,
    /// Byte offset of the token in the source.
    pub(super) pos: usize,
    /// The token's source text.
    pub(super) text: &'s str,
}

pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `src` into tokens, skipping whitespace and comments.
pub(super) fn lex(src: &str) -> Result<Vec<Token<'_>>, FormulaError> {
    let bytes = src.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(b) = at(i) {
        let start = i;
        let next = at(i + 1);
        let (kind, len) = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if next == Some(b'/') => {
                i = src
                    .get(i..)
                    .and_then(|rest| rest.find('\n'))
                    .map_or(src.len(), |n| i + n);
                continue;
            }
            b'/' if next == Some(b'*') => {
                match src.get(i + 2..).and_then(|rest| rest.find("*/")) {
                    Some(n) => i += 2 + n + 2,
                    None => return Err(FormulaError::at("unterminated comment", start)),
                }
                continue;
            }
            b'0'..=b'9' => {
                let (value, end) = lex_number(src, i)?;
                (Tok::Num(value), end - i)
            }
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                let (value, end) = lex_number(src, i)?;
                (Tok::Num(value), end - i)
            }
            b if is_ident_start(b) => {
                let mut end = i + 1;
                while at(end).is_some_and(is_ident_continue) {
                    end += 1;
                }
                let word = src.get(i..end).unwrap_or_default();
                let kind = match word {
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "nil" => Tok::Nil,
                    "and" => Tok::AndAnd,
                    "or" => Tok::OrOr,
                    "not" => Tok::Bang,
                    _ => Tok::Ident(word),
                };
                (kind, end - i)
            }
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' if next == Some(b'*') => (Tok::Pow, 2),
            b'*' => (Tok::Star, 1),
            b'^' => (Tok::Pow, 1),
            b'/' => (Tok::Slash, 1),
            b'%' => (Tok::Percent, 1),
            b'=' if next == Some(b'=') => (Tok::EqEq, 2),
            b'!' if next == Some(b'=') => (Tok::NotEq, 2),
            b'!' => (Tok::Bang, 1),
            b'<' if next == Some(b'=') => (Tok::Le, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if next == Some(b'=') => (Tok::Ge, 2),
            b'>' => (Tok::Gt, 1),
            b'&' if next == Some(b'&') => (Tok::AndAnd, 2),
            b'|' if next == Some(b'|') => (Tok::OrOr, 2),
            b'?' if next == Some(b'?') => (Tok::Coalesce, 2),
            b'?' => (Tok::Question, 1),
            b':' => (Tok::Colon, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'[' => (Tok::LBracket, 1),
            b']' => (Tok::RBracket, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'#' => (Tok::Hash, 1),
            b',' => (Tok::Comma, 1),
            _ => {
                let c = src.get(i..).and_then(|rest| rest.chars().next());
                // Unicode whitespace is skipped like ASCII whitespace.
                if let Some(c) = c.filter(|c| c.is_whitespace()) {
                    i += c.len_utf8();
                    continue;
                }
                // Quoted as a string: `"'"`, not `"\'"` as char::escape_debug would show it.
                let shown = c.map(String::from).unwrap_or_default();
                return Err(FormulaError::at(
                    format!("unexpected character {shown:?}"),
                    start,
                ));
            }
        };
        i += len;
        tokens.push(Token {
            kind,
            pos: start,
            text: src.get(start..i).unwrap_or_default(),
        });
    }
    Ok(tokens)
}

/// Lexes the number starting at `start`; returns its value and end offset.
pub(super) fn lex_number(src: &str, start: usize) -> Result<(f64, usize), FormulaError> {
    let bytes = src.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let is_digit_or_sep = |b: u8| b.is_ascii_digit() || b == b'_';
    let radix = match (at(start), at(start + 1)) {
        (Some(b'0'), Some(b'x' | b'X')) => 16,
        (Some(b'0'), Some(b'o' | b'O')) => 8,
        (Some(b'0'), Some(b'b' | b'B')) => 2,
        _ => 10,
    };
    let mut end = start;
    if radix == 10 {
        while at(end).is_some_and(is_digit_or_sep) {
            end += 1;
        }
        // `1..2` is not a number followed by `.2`; leave the dots alone.
        if at(end) == Some(b'.') && at(end + 1) != Some(b'.') {
            end += 1;
            while at(end).is_some_and(is_digit_or_sep) {
                end += 1;
            }
        }
        if matches!(at(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(at(end), Some(b'+' | b'-')) {
                end += 1;
            }
            while at(end).is_some_and(is_digit_or_sep) {
                end += 1;
            }
        }
    } else {
        end += 2;
    }
    // A number must not run into a name: `2x` is one bad token, not two.
    while at(end).is_some_and(is_ident_continue) {
        end += 1;
    }
    let text = src.get(start..end).unwrap_or_default();
    let invalid = || FormulaError::at(format!("invalid number \"{text}\""), start);
    let too_large = || FormulaError::at(format!("number \"{text}\" is too large"), start);

    let digits = if radix == 10 {
        text
    } else {
        text.get(2..).unwrap_or_default()
    };
    // Underscores only between two digits (or right after a base prefix).
    // Digits invalid for the radix are rejected below.
    let is_radix_digit = |b: u8| {
        if radix == 10 {
            b.is_ascii_digit()
        } else {
            b.is_ascii_hexdigit()
        }
    };
    let digit_bytes = digits.as_bytes();
    for (k, &b) in digit_bytes.iter().enumerate() {
        if b != b'_' {
            continue;
        }
        let before_ok = match k.checked_sub(1) {
            None => radix != 10,
            Some(p) => digit_bytes.get(p).copied().is_some_and(is_radix_digit),
        };
        let after_ok = digit_bytes.get(k + 1).copied().is_some_and(is_radix_digit);
        if !(before_ok && after_ok) {
            return Err(invalid());
        }
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if radix == 10 {
        let value: f64 = cleaned.parse().map_err(|_| invalid())?;
        if value.is_finite() {
            Ok((value, end))
        } else {
            Err(too_large())
        }
    } else {
        if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_digit(radix)) {
            return Err(invalid());
        }
        // Like expr, integer literals must fit a 64-bit signed integer.
        let value = i64::from_str_radix(&cleaned, radix).map_err(|_| too_large())?;
        Ok((value as f64, end))
    }
}
