//! Scaling-modifier formulas: `advanced.scalingModifiers.formula`.
//!
//! KEDA lets a ScaledObject combine the values of its triggers into one
//! composite metric with a formula written in the [expr] language, for
//! example `(queue_a + queue_b) / 2` or `trig_one > 2 ? trig_one : 0`. Each
//! trigger is referred to by its name. This module parses and evaluates the
//! subset of expr that such formulas use.
//!
//! ```
//! use scalers_core::formula::Formula;
//!
//! let formula = Formula::parse("max(kafka, prom * 2)")?;
//! assert_eq!(formula.variables(), ["kafka", "prom"]);
//! let value = formula.eval(&|name| match name {
//!     "kafka" => Some(3.0),
//!     "prom" => Some(4.0),
//!     _ => None, // this trigger failed this tick
//! })?;
//! assert_eq!(value, 8.0);
//!
//! // `??` supplies a value for a trigger that has none.
//! let formula: Formula = "missing ?? 0 + kafka".parse()?;
//! assert_eq!(formula.eval(&|name| (name == "kafka").then_some(3.0))?, 3.0);
//! # Ok::<(), scalers_core::formula::FormulaError>(())
//! ```
//!
//! # Grammar
//!
//! From the loosest-binding construct to the tightest, with expr's precedence:
//!
//! ```text
//! formula     = ternary
//! ternary     = or [ "?" ternary ":" ternary ]                (right-associative)
//! or          = and { ( "||" | "or" ) and }
//! and         = comparison { ( "&&" | "and" ) comparison }
//! comparison  = additive { ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) additive }
//! additive    = multiplicative { ( "+" | "-" ) multiplicative }
//! multiplicative = power { ( "*" | "/" | "%" ) power }
//! power       = coalesce [ ( "**" | "^" ) power ]              (right-associative)
//! coalesce    = unary { "??" unary }
//! unary       = ( "!" | "not" ) multiplicative                 (`!a * b` is `!(a * b)`)
//!             | ( "-" | "+" ) power                            (`-a ** b` is `-(a ** b)`)
//!             | primary
//! primary     = number | "true" | "false" | "nil" | name | "#"
//!             | name "(" [ argument { "," argument } ] ")"
//!             | "[" [ ternary { "," ternary } ] "]"
//!             | "(" ternary ")"
//! argument    = ternary | predicate                            (a predicate: see below)
//! predicate   = "{" ternary "}" | ternary
//! ```
//!
//! * Numbers: `12`, `1.5`, `.5`, `1.`, `1e3`, `2.5E-3`, `1_000` (an underscore
//!   must sit between two digits), and the integer forms `0x1F`, `0o17`,
//!   `0b101`.
//! * Names: `[A-Za-z_][A-Za-z0-9_]*`, except the keywords `true`, `false`,
//!   `nil`, `and`, `or` and `not`. A name is a trigger (a variable) unless it is
//!   followed by `(`, which makes it a function call.
//! * Arrays: `[a, b, 1]`, of any values (nested arrays too).
//! * Predicates: the second argument of `all`, `any`, `none`, `one`, `count`, `filter`,
//!   `map` and `sum` is applied to each element of the array in the first, with `#` standing
//!   for the element, in braces or not: `count([trig_one, trig_two], {# > 1})`. `#` anywhere
//!   else is a parse error; in nested predicates it is the innermost element.
//! * Functions on numbers: `abs(x)`, `ceil(x)`, `floor(x)`, `round(x)` (halves away from
//!   zero), `float(x)` and `int(x)` (truncates toward zero).
//! * Aggregates: `min`, `max`, `mean` and `median` take one or more numbers or arrays of
//!   numbers (`max(a, [b, c])`) and refuse none at all; `sum(array)` and
//!   `sum(array, predicate)` (the sum of the predicate's values) are 0 for an empty array;
//!   `len(array)`.
//! * Predicate functions: `all`, `any`, `none`, `one` (exactly one element matches) give a
//!   boolean and stop as soon as they know; `count(array, predicate)` counts the matches
//!   (`count(array)` counts the `true` elements); `filter` keeps the matching elements and
//!   `map` gives the predicate's values, both as arrays.
//! * Comments: `// to the end of the line` and `/* block */`.
//! * Limits: at most 4096 bytes of source, and at most 64 levels of
//!   nesting. While parsing, each parenthesis, array, function call, `?:` branch,
//!   prefix operator, `**`, and right operand of a tighter-binding operator
//!   (the `b * c` in `a + b * c`) is one level; the expression tree may also
//!   be at most 64 nodes tall. An evaluation may build or visit at most 100 000 array
//!   elements (nested predicates multiply). Real formulas stay far below all three; they
//!   keep hostile input from exhausting the stack or the CPU.
//!
//! A chain of ordering operators is a conjunction, as in expr:
//! `1 < x <= 10` means `1 < x && x <= 10`, with `x` evaluated once. `==` and `!=` share
//! their level with them but do not chain: `a == b < c` is `(a == b) < c`.
//!
//! # Evaluation
//!
//! Values are numbers (`f64`), booleans, nil and arrays. A trigger without a value
//! this tick evaluates to nil, and `??` replaces nil: `missing ?? 0` is `0`
//! when `missing` has no value. Using nil in arithmetic, in an ordering
//! comparison, as a function argument or as a condition is an error that
//! names the trigger (`trigger "missing" has no value`); in an array it stays nil
//! (`count([a, b], {# != nil})` counts the triggers with a value). `==` and `!=` accept
//! nil (nil equals only nil) and compare arrays element by element. `&&`, `||`, `??` and
//! `?:` short-circuit: the operand or branch that is not needed is not evaluated, so a
//! missing trigger there is not an error. Division and modulo by zero are errors, and the
//! result of the whole formula must be a finite number.
//!
//! # Differences from expr
//!
//! * expr rejects `a ?? b + c` ("cannot be mixed"), which here is `(a ?? b) + c`.
//! * Every number is an `f64`: `%` accepts fractions (expr wants integers)
//!   and there is no integer overflow.
//! * `==` between values of different kinds (a number and a boolean) is an evaluation
//!   error (expr rejects it when compiling against typed variables).
//! * Not supported: strings, maps, member access, `in`, `matches`, `contains`, ranges,
//!   pipes, `#index` and closures outside predicates, `let`, `a ?: b`, `$env`, trailing
//!   commas, and the builtins not listed above.
//!
//! The Rust crate `expr-lang` (2.1.0, evaluated for this module) was not adopted: it builds
//! with few crates without its default features, but it fails these tests where the syntax
//! is expr's own (`1 < x < 5` is refused, `x ?? 0 + 1` is `x ?? (0 + 1)`, an unknown trigger
//! is an error rather than nil), it overflows the stack on a thousand nested parentheses, and
//! it does not list the variables a formula uses, which validation needs.
//!
//! [expr]: https://expr-lang.org

use std::cell::Cell;
use std::fmt;

/// The longest source accepted, in bytes.
const MAX_SOURCE_LEN: usize = 4096;

/// The deepest nesting accepted (see the module documentation).
const MAX_DEPTH: usize = 64;

/// The known function names, sorted, as listed in error messages.
const KNOWN_FUNCTIONS: &str = "abs, all, any, ceil, count, filter, float, floor, int, len, map, \
                               max, mean, median, min, none, one, round, sum";

/// The most array elements one evaluation may build or visit with a predicate (see the
/// module documentation).
const MAX_STEPS: usize = 100_000;

/// A parsed formula.
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    source: String,
    expr: Expr,
    variables: Vec<String>,
}

/// Why a formula did not parse or evaluate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FormulaError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the source where the problem was found, for parse errors.
    pub position: Option<usize>,
}

impl FormulaError {
    /// An error without a position.
    fn new(message: impl Into<String>) -> Self {
        FormulaError {
            message: message.into(),
            position: None,
        }
    }

    /// A parse error at `position`; the position is appended to the message.
    fn at(message: impl fmt::Display, position: usize) -> Self {
        FormulaError {
            message: format!("{message} at position {position}"),
            position: Some(position),
        }
    }

    /// The error for a nil value used where a number or boolean is needed.
    fn nil(origin: Option<&str>, kind: &str) -> Self {
        match origin {
            Some(name) => FormulaError::new(format!("trigger \"{name}\" has no value")),
            None => FormulaError::new(format!("nil used as a {kind}")),
        }
    }
}

impl Formula {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Formula, FormulaError> {
        if source.len() > MAX_SOURCE_LEN {
            return Err(FormulaError::new(format!(
                "the formula is longer than {MAX_SOURCE_LEN} bytes"
            )));
        }
        let tokens = lex(source)?;
        if tokens.is_empty() {
            return Err(FormulaError::new("the formula is empty"));
        }
        let mut parser = Parser {
            source,
            tokens,
            next: 0,
            depth: 0,
            predicates: 0,
            variables: Vec::new(),
        };
        let expr = parser.expr(0)?;
        let trailing = parser.peek();
        if trailing.kind != Tok::End {
            return Err(parser.unexpected(trailing));
        }
        // Parentheses are bounded by the parser; this bounds operators.
        if height(&expr) > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut variables: Vec<String> = parser
            .variables
            .iter()
            .map(|name| (*name).to_owned())
            .collect();
        variables.sort();
        variables.dedup();
        Ok(Formula {
            source: source.to_owned(),
            expr,
            variables,
        })
    }

    /// The source text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Variables (trigger names) the formula references, sorted and deduplicated; function names are not variables.
    pub fn variables(&self) -> Vec<&str> {
        self.variables.iter().map(String::as_str).collect()
    }

    /// Evaluates with `lookup` giving each variable's value; `None` means the value is missing
    /// (the trigger failed this tick). Result must be a finite number.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Result<f64, FormulaError> {
        let steps = Cell::new(0);
        let cx = Cx {
            lookup,
            elem: None,
            steps: &steps,
        };
        match eval(&self.expr, cx)? {
            // `+ 0.0` turns a negative zero into zero.
            Value::Num(n) if n.is_finite() => Ok(n + 0.0),
            Value::Num(_) => Err(FormulaError::new("the formula yields a non-finite number")),
            Value::Bool(_) => Err(FormulaError::new(
                "the formula yields a boolean, expected a number",
            )),
            Value::Nil(Some(name)) => Err(FormulaError::nil(Some(name), "number")),
            Value::Nil(None) => Err(FormulaError::new(
                "the formula yields nil, expected a number",
            )),
            Value::Array(_) => Err(FormulaError::new(
                "the formula yields an array, expected a number",
            )),
        }
    }
}

impl fmt::Display for Formula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Formula {
    type Err = FormulaError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Formula::parse(source)
    }
}

// ---------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------

/// A node of the syntax tree. Left-associative operator chains are stored
/// flat so that long chains do not make the tree (and evaluation) deep.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Num(f64),
    Bool(bool),
    Nil,
    Var(String),
    Unary(UnaryOp, Box<Expr>),
    /// `base ** exponent`.
    Pow(Box<Expr>, Box<Expr>),
    /// `first op1 e1 op2 e2 ...`, evaluated left to right.
    Arith(Box<Expr>, Vec<(ArithOp, Expr)>),
    /// `first == e1 != e2 ...`, left-associative; `true` means `!=`.
    Equal(Box<Expr>, Vec<(bool, Expr)>),
    /// `a < b <= c ...`, meaning `a < b && b <= c && ...`.
    Compare(Box<Expr>, Vec<(CompareOp, Expr)>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Coalesce(Vec<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A call; for a function taking a predicate, the second argument is the predicate,
    /// evaluated once per element.
    Call(Func, Vec<Expr>),
    /// `[a, b, ...]`.
    Array(Vec<Expr>),
    /// `#`: the element a predicate is applied to.
    Elem,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum UnaryOp {
    Neg,
    Plus,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    fn symbol(self) -> &'static str {
        match self {
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    Abs,
    All,
    Any,
    Ceil,
    Count,
    Filter,
    Float,
    Floor,
    Int,
    Len,
    Map,
    Max,
    Mean,
    Median,
    Min,
    None,
    One,
    Round,
    Sum,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "abs" => Func::Abs,
            "all" => Func::All,
            "any" => Func::Any,
            "ceil" => Func::Ceil,
            "count" => Func::Count,
            "filter" => Func::Filter,
            "float" => Func::Float,
            "floor" => Func::Floor,
            "int" => Func::Int,
            "len" => Func::Len,
            "map" => Func::Map,
            "max" => Func::Max,
            "mean" => Func::Mean,
            "median" => Func::Median,
            "min" => Func::Min,
            "none" => Func::None,
            "one" => Func::One,
            "round" => Func::Round,
            "sum" => Func::Sum,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Abs => "abs",
            Func::All => "all",
            Func::Any => "any",
            Func::Ceil => "ceil",
            Func::Count => "count",
            Func::Filter => "filter",
            Func::Float => "float",
            Func::Floor => "floor",
            Func::Int => "int",
            Func::Len => "len",
            Func::Map => "map",
            Func::Max => "max",
            Func::Mean => "mean",
            Func::Median => "median",
            Func::Min => "min",
            Func::None => "none",
            Func::One => "one",
            Func::Round => "round",
            Func::Sum => "sum",
        }
    }

    /// Whether the second argument is a predicate (where `#` is the element).
    fn takes_predicate(self) -> bool {
        matches!(
            self,
            Func::All
                | Func::Any
                | Func::Count
                | Func::Filter
                | Func::Map
                | Func::None
                | Func::One
                | Func::Sum
        )
    }

    /// The number of arguments accepted: at least, at most (`None`: no limit), and how
    /// messages say it.
    fn arity(self) -> (usize, Option<usize>, &'static str) {
        match self {
            Func::Max | Func::Min | Func::Mean | Func::Median => (1, None, "at least 1 argument"),
            Func::All | Func::Any | Func::Filter | Func::Map | Func::None | Func::One => {
                (2, Some(2), "exactly 2 arguments (an array and a predicate)")
            }
            Func::Count | Func::Sum => (1, Some(2), "an array and an optional predicate"),
            Func::Abs
            | Func::Ceil
            | Func::Float
            | Func::Floor
            | Func::Int
            | Func::Len
            | Func::Round => (1, Some(1), "exactly 1 argument"),
        }
    }
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'s> {
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
struct Token<'s> {
    kind: Tok<'s>,
    /// Byte offset of the token in the source.
    pos: usize,
    /// The token's source text.
    text: &'s str,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `src` into tokens, skipping whitespace and comments.
fn lex(src: &str) -> Result<Vec<Token<'_>>, FormulaError> {
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
fn lex_number(src: &str, start: usize) -> Result<(f64, usize), FormulaError> {
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

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

/// A binary operator, as written between two operands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BinOp {
    Coalesce,
    Or,
    And,
    /// `==`, or `!=` when `true`.
    Equal(bool),
    Compare(CompareOp),
    Arith(ArithOp),
    /// `**` or `^`, right-associative.
    Pow,
}

/// The binding strength of `*`, `/`, `%`; `!` and `not` apply to what binds at least as
/// tightly (as in expr, where they sit between `+` and `*`).
const MUL_LEVEL: u8 = 7;
/// The binding strength of `**`; unary `-` and `+` apply to what binds at least as tightly
/// (as in expr: `-2 ** 2` is `-(2 ** 2)` and `-a ?? b` is `-(a ?? b)`).
const POW_LEVEL: u8 = 8;

impl BinOp {
    fn from_token(tok: Tok<'_>) -> Option<BinOp> {
        Some(match tok {
            Tok::Coalesce => BinOp::Coalesce,
            Tok::OrOr => BinOp::Or,
            Tok::AndAnd => BinOp::And,
            Tok::EqEq => BinOp::Equal(false),
            Tok::NotEq => BinOp::Equal(true),
            Tok::Lt => BinOp::Compare(CompareOp::Lt),
            Tok::Le => BinOp::Compare(CompareOp::Le),
            Tok::Gt => BinOp::Compare(CompareOp::Gt),
            Tok::Ge => BinOp::Compare(CompareOp::Ge),
            Tok::Plus => BinOp::Arith(ArithOp::Add),
            Tok::Minus => BinOp::Arith(ArithOp::Sub),
            Tok::Star => BinOp::Arith(ArithOp::Mul),
            Tok::Slash => BinOp::Arith(ArithOp::Div),
            Tok::Percent => BinOp::Arith(ArithOp::Rem),
            Tok::Pow => BinOp::Pow,
            _ => return None,
        })
    }

    /// Binding strength, from 1 (loosest) up, as in expr; all but `**` are left-associative.
    fn level(self) -> u8 {
        match self {
            // As in expr, `??` binds tighter than every other binary operator.
            BinOp::Coalesce => 9,
            BinOp::Or => 2,
            BinOp::And => 3,
            // As in expr, equality and ordering share one level: `a == b < c` is
            // `(a == b) < c`; only consecutive ordering operators chain.
            BinOp::Equal(_) | BinOp::Compare(_) => 4,
            BinOp::Arith(ArithOp::Add | ArithOp::Sub) => 6,
            BinOp::Arith(ArithOp::Mul | ArithOp::Div | ArithOp::Rem) => MUL_LEVEL,
            BinOp::Pow => POW_LEVEL,
        }
    }
}

/// Joins `left op right`. With `extend`, `left` is the chain node this
/// operator's level built just before, and `right` is appended to it, which
/// keeps `a + b + c + ...` flat.
fn combine(left: Expr, op: BinOp, right: Expr, extend: bool) -> Expr {
    match (op, left) {
        (BinOp::Coalesce, Expr::Coalesce(mut items))
        | (BinOp::Or, Expr::Or(mut items))
        | (BinOp::And, Expr::And(mut items))
            if extend =>
        {
            items.push(right);
            match op {
                BinOp::Coalesce => Expr::Coalesce(items),
                BinOp::Or => Expr::Or(items),
                _ => Expr::And(items),
            }
        }
        (BinOp::Coalesce, left) => Expr::Coalesce(vec![left, right]),
        (BinOp::Or, left) => Expr::Or(vec![left, right]),
        (BinOp::And, left) => Expr::And(vec![left, right]),
        (BinOp::Equal(negated), Expr::Equal(first, mut rest)) if extend => {
            rest.push((negated, right));
            Expr::Equal(first, rest)
        }
        (BinOp::Equal(negated), left) => Expr::Equal(Box::new(left), vec![(negated, right)]),
        (BinOp::Compare(cmp), Expr::Compare(first, mut rest)) if extend => {
            rest.push((cmp, right));
            Expr::Compare(first, rest)
        }
        (BinOp::Compare(cmp), left) => Expr::Compare(Box::new(left), vec![(cmp, right)]),
        (BinOp::Arith(arith), Expr::Arith(first, mut rest)) if extend => {
            rest.push((arith, right));
            Expr::Arith(first, rest)
        }
        (BinOp::Arith(arith), left) => Expr::Arith(Box::new(left), vec![(arith, right)]),
        (BinOp::Pow, left) => Expr::Pow(Box::new(left), Box::new(right)),
    }
}

/// The height of the syntax tree, which bounds how deep evaluation recurses.
fn height(expr: &Expr) -> usize {
    let children = match expr {
        Expr::Num(_) | Expr::Bool(_) | Expr::Nil | Expr::Var(_) | Expr::Elem => 0,
        Expr::Unary(_, operand) => height(operand),
        Expr::Pow(base, exponent) => height(base).max(height(exponent)),
        Expr::Arith(first, rest) => rest
            .iter()
            .map(|(_, e)| height(e))
            .fold(height(first), usize::max),
        Expr::Equal(first, rest) => rest
            .iter()
            .map(|(_, e)| height(e))
            .fold(height(first), usize::max),
        Expr::Compare(first, rest) => rest
            .iter()
            .map(|(_, e)| height(e))
            .fold(height(first), usize::max),
        Expr::And(items)
        | Expr::Or(items)
        | Expr::Coalesce(items)
        | Expr::Call(_, items)
        | Expr::Array(items) => items.iter().map(height).max().unwrap_or(0),
        Expr::Cond(cond, then, otherwise) => height(cond).max(height(then)).max(height(otherwise)),
    };
    children + 1
}

/// A precedence-climbing parser. Every recursive step goes through
/// [`Parser::enter`], which bounds the recursion (and so the stack used).
struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Token<'s>>,
    /// Index of the next token.
    next: usize,
    depth: usize,
    /// How many predicates enclose the current position (`#` is valid when above 0).
    predicates: usize,
    variables: Vec<&'s str>,
}

type ParseResult = Result<Expr, FormulaError>;

impl<'s> Parser<'s> {
    fn peek(&self) -> Token<'s> {
        self.tokens.get(self.next).copied().unwrap_or(Token {
            kind: Tok::End,
            pos: self.source.len(),
            text: "",
        })
    }

    fn bump(&mut self) -> Token<'s> {
        let token = self.peek();
        if token.kind != Tok::End {
            self.next += 1;
        }
        token
    }

    /// Consumes the next token if it is `kind`.
    fn eat(&mut self, kind: Tok<'_>) -> bool {
        if self.peek().kind == kind {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: Tok<'_>) -> Result<(), FormulaError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    #[cold]
    #[inline(never)]
    fn unexpected(&self, token: Token<'_>) -> FormulaError {
        if token.kind == Tok::End {
            FormulaError {
                message: "unexpected end of formula".to_owned(),
                position: Some(self.source.len()),
            }
        } else {
            FormulaError::at(format!("unexpected \"{}\"", token.text), token.pos)
        }
    }

    /// Goes one nesting level deeper; pair with [`Parser::leave`].
    fn enter(&mut self) -> Result<(), FormulaError> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Parses operators binding at least as tightly as `min_level`, and with
    /// `min_level == 0` a trailing `? :` too.
    fn expr(&mut self, min_level: u8) -> ParseResult {
        self.enter()?;
        let mut left = self.prefix()?;
        // The level of the chain node `left` was built into by this loop.
        let mut open_level = None;
        while let Some(op) = BinOp::from_token(self.peek().kind) {
            let level = op.level();
            if level < min_level {
                break;
            }
            self.bump();
            let right = if op == BinOp::Pow {
                self.expr(level)?
            } else {
                self.expr(level + 1)?
            };
            left = combine(left, op, right, open_level == Some(level));
            open_level = Some(level);
        }
        if min_level == 0 && self.eat(Tok::Question) {
            let then = self.expr(0)?;
            self.expect(Tok::Colon)?;
            let otherwise = self.expr(0)?;
            left = Expr::Cond(Box::new(left), Box::new(then), Box::new(otherwise));
        }
        self.leave();
        Ok(left)
    }

    /// Parses prefix operators and what they apply to: as in expr, `-` and `+` take what
    /// binds at least as tightly as `**`, `!` and `not` what binds at least as tightly as `*`.
    fn prefix(&mut self) -> ParseResult {
        let (op, level) = match self.peek().kind {
            Tok::Minus => (UnaryOp::Neg, POW_LEVEL),
            Tok::Plus => (UnaryOp::Plus, POW_LEVEL),
            Tok::Bang => (UnaryOp::Not, MUL_LEVEL),
            _ => return self.primary(),
        };
        self.bump();
        let operand = self.expr(level)?;
        Ok(Expr::Unary(op, Box::new(operand)))
    }

    fn primary(&mut self) -> ParseResult {
        let token = self.bump();
        match token.kind {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::True => Ok(Expr::Bool(true)),
            Tok::False => Ok(Expr::Bool(false)),
            Tok::Nil => Ok(Expr::Nil),
            Tok::Ident(name) if self.peek().kind == Tok::LParen => self.call(name, token.pos),
            Tok::Ident(name) => {
                self.variables.push(name);
                Ok(Expr::Var(name.to_owned()))
            }
            Tok::LParen => {
                let inner = self.expr(0)?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Tok::LBracket => self.array(),
            Tok::Hash if self.predicates > 0 => Ok(Expr::Elem),
            Tok::Hash => Err(FormulaError::at("\"#\" outside a predicate", token.pos)),
            _ => Err(self.unexpected(token)),
        }
    }

    /// Parses an array literal after its `[`.
    fn array(&mut self) -> ParseResult {
        let mut items = Vec::new();
        if self.eat(Tok::RBracket) {
            return Ok(Expr::Array(items));
        }
        self.enter()?;
        loop {
            items.push(self.expr(0)?);
            if self.eat(Tok::Comma) {
                continue;
            }
            self.expect(Tok::RBracket)?;
            break;
        }
        self.leave();
        Ok(Expr::Array(items))
    }

    /// Parses a predicate: an expression where `#` is the element, in braces or not
    /// (`{# > 1}` or `# > 1`).
    fn predicate(&mut self) -> ParseResult {
        self.predicates += 1;
        let braced = self.eat(Tok::LBrace);
        let body = self.expr(0);
        self.predicates -= 1;
        let body = body?;
        if braced {
            self.expect(Tok::RBrace)?;
        }
        Ok(body)
    }

    /// Parses a call of `name` (at `pos`); the next token is `(`.
    fn call(&mut self, name: &str, pos: usize) -> ParseResult {
        let Some(func) = Func::from_name(name) else {
            return Err(unknown_function(name, pos));
        };
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        if !self.eat(Tok::RParen) {
            loop {
                let arg = if args.len() == 1 && func.takes_predicate() {
                    self.predicate()?
                } else {
                    self.expr(0)?
                };
                args.push(arg);
                if self.eat(Tok::Comma) {
                    continue;
                }
                self.expect(Tok::RParen)?;
                break;
            }
        }
        let (min, max, _) = func.arity();
        if args.len() < min || max.is_some_and(|max| args.len() > max) {
            return Err(wrong_arity(func, args.len(), pos));
        }
        Ok(Expr::Call(func, args))
    }
}

fn too_deep() -> FormulaError {
    FormulaError::new("the formula is nested too deeply")
}

// Error builders live outside the recursive parse functions to keep their
// stack frames small.

#[cold]
#[inline(never)]
fn unknown_function(name: &str, pos: usize) -> FormulaError {
    FormulaError {
        message: format!("unknown function \"{name}\" at position {pos}; known: {KNOWN_FUNCTIONS}"),
        position: Some(pos),
    }
}

#[cold]
#[inline(never)]
fn wrong_arity(func: Func, got: usize, pos: usize) -> FormulaError {
    let (_, _, expected) = func.arity();
    FormulaError::at(
        format!("{}() takes {expected}, got {got}", func.name()),
        pos,
    )
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// A value during evaluation. Nil remembers the trigger it came from
/// (`None` for the literal `nil`) so errors can name it.
#[derive(Clone, Debug, PartialEq)]
enum Value<'a> {
    Num(f64),
    Bool(bool),
    Nil(Option<&'a str>),
    Array(Vec<Value<'a>>),
}

impl Value<'_> {
    /// What the value is, as messages say it after "got".
    fn kind(&self) -> &'static str {
        match self {
            Value::Num(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Nil(_) => "nil",
            Value::Array(_) => "an array",
        }
    }
}

/// `value` as a number; `what` names the user in errors (`operator "+"`).
fn number(value: &Value<'_>, what: &dyn fmt::Display) -> Result<f64, FormulaError> {
    match value {
        Value::Num(n) => Ok(*n),
        Value::Nil(origin) => Err(FormulaError::nil(*origin, "number")),
        other => Err(FormulaError::new(format!(
            "{what} expects numbers, got {}",
            other.kind()
        ))),
    }
}

/// `value` as a boolean; `what` names the user in errors (`operator "&&"`).
fn boolean(value: &Value<'_>, what: &dyn fmt::Display) -> Result<bool, FormulaError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Nil(origin) => Err(FormulaError::nil(*origin, "boolean")),
        other => Err(FormulaError::new(format!(
            "{what} expects booleans, got {}",
            other.kind()
        ))),
    }
}

/// Names an operator in error messages: `operator "+"`.
struct Operator(&'static str);

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator \"{}\"", self.0)
    }
}

/// Names a function in error messages: `function "abs"`.
struct Function(Func);

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function \"{}\"", self.0.name())
    }
}

/// The callback giving each trigger's value.
type Lookup<'l> = &'l dyn Fn(&str) -> Option<f64>;

/// What evaluation needs besides the tree: the triggers' values, the element `#` stands for
/// inside a predicate, and the count of steps taken (bounded by [`MAX_STEPS`]).
#[derive(Clone, Copy)]
struct Cx<'c, 'a> {
    lookup: Lookup<'c>,
    elem: Option<&'c Value<'a>>,
    steps: &'c Cell<usize>,
}

impl<'a> Cx<'_, 'a> {
    /// Counts one step (an array element built, or a predicate applied).
    fn step(&self) -> Result<(), FormulaError> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > MAX_STEPS {
            return Err(FormulaError::new(format!(
                "the formula takes more than {MAX_STEPS} steps"
            )));
        }
        Ok(())
    }
}

type EvalResult<'a> = Result<Value<'a>, FormulaError>;

/// Evaluates `expr`. Compound nodes are handled by separate functions so
/// that this recursive frame stays small.
fn eval<'a>(expr: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    match expr {
        Expr::Num(n) => Ok(Value::Num(*n)),
        Expr::Bool(b) => Ok(Value::Bool(*b)),
        Expr::Nil => Ok(Value::Nil(None)),
        Expr::Var(name) => Ok(match (cx.lookup)(name) {
            Some(n) => Value::Num(n),
            None => Value::Nil(Some(name.as_str())),
        }),
        Expr::Elem => Ok(cx.elem.cloned().unwrap_or(Value::Nil(None))),
        Expr::Unary(op, operand) => eval_unary(*op, operand, cx),
        Expr::Pow(base, exponent) => eval_pow(base, exponent, cx),
        Expr::Arith(first, rest) => eval_arith(first, rest, cx),
        Expr::Equal(first, rest) => eval_equal(first, rest, cx),
        Expr::Compare(first, rest) => eval_compare(first, rest, cx),
        Expr::And(operands) => eval_logic(operands, false, cx),
        Expr::Or(operands) => eval_logic(operands, true, cx),
        Expr::Coalesce(operands) => eval_coalesce(operands, cx),
        Expr::Cond(cond, then, otherwise) => eval_cond(cond, then, otherwise, cx),
        Expr::Call(func, args) => call(*func, args, cx),
        Expr::Array(items) => eval_array(items, cx),
    }
}

fn eval_unary<'a>(op: UnaryOp, operand: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let value = eval(operand, cx)?;
    Ok(match op {
        UnaryOp::Neg => Value::Num(-number(&value, &Operator("-"))?),
        UnaryOp::Plus => Value::Num(number(&value, &Operator("+"))?),
        UnaryOp::Not => Value::Bool(!boolean(&value, &Operator("!"))?),
    })
}

fn eval_pow<'a>(base: &'a Expr, exponent: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let base = number(&eval(base, cx)?, &Operator("**"))?;
    let exponent = number(&eval(exponent, cx)?, &Operator("**"))?;
    Ok(Value::Num(base.powf(exponent)))
}

fn eval_arith<'a>(first: &'a Expr, rest: &'a [(ArithOp, Expr)], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut acc = eval(first, cx)?;
    for (op, operand) in rest {
        let what = Operator(op.symbol());
        let left = number(&acc, &what)?;
        let right = number(&eval(operand, cx)?, &what)?;
        acc = Value::Num(arith(*op, left, right)?);
    }
    Ok(acc)
}

fn eval_equal<'a>(first: &'a Expr, rest: &'a [(bool, Expr)], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut acc = eval(first, cx)?;
    for (negated, operand) in rest {
        let right = eval(operand, cx)?;
        let what = Operator(if *negated { "!=" } else { "==" });
        acc = Value::Bool(equal(&acc, &right, &what)? != *negated);
    }
    Ok(acc)
}

/// `a < b <= c` is `a < b && b <= c`, evaluating `b` once.
fn eval_compare<'a>(
    first: &'a Expr,
    rest: &'a [(CompareOp, Expr)],
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
    let mut left_value = eval(first, cx)?;
    for (op, operand) in rest {
        let what = Operator(op.symbol());
        let left = number(&left_value, &what)?;
        left_value = eval(operand, cx)?;
        let right = number(&left_value, &what)?;
        let holds = match op {
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Gt => left > right,
            CompareOp::Ge => left >= right,
        };
        if !holds {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

/// `&&` (`stop_on` false) and `||` (`stop_on` true), short-circuiting.
fn eval_logic<'a>(operands: &'a [Expr], stop_on: bool, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let what = Operator(if stop_on { "||" } else { "&&" });
    for operand in operands {
        if boolean(&eval(operand, cx)?, &what)? == stop_on {
            return Ok(Value::Bool(stop_on));
        }
    }
    Ok(Value::Bool(!stop_on))
}

fn eval_coalesce<'a>(operands: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut value = Value::Nil(None);
    for operand in operands {
        value = eval(operand, cx)?;
        if !matches!(value, Value::Nil(_)) {
            break;
        }
    }
    Ok(value)
}

fn eval_cond<'a>(
    cond: &'a Expr,
    then: &'a Expr,
    otherwise: &'a Expr,
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
    let chosen = match eval(cond, cx)? {
        Value::Bool(true) => then,
        Value::Bool(false) => otherwise,
        Value::Nil(origin) => return Err(FormulaError::nil(origin, "boolean")),
        other => {
            return Err(FormulaError::new(format!(
                "the condition of \"?:\" must be a boolean, got {}",
                other.kind()
            )));
        }
    };
    eval(chosen, cx)
}

fn eval_array<'a>(items: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        cx.step()?;
        values.push(eval(item, cx)?);
    }
    Ok(Value::Array(values))
}

fn arith(op: ArithOp, left: f64, right: f64) -> Result<f64, FormulaError> {
    Ok(match op {
        ArithOp::Add => left + right,
        ArithOp::Sub => left - right,
        ArithOp::Mul => left * right,
        ArithOp::Div | ArithOp::Rem if right == 0.0 => {
            return Err(FormulaError::new("division by zero"));
        }
        ArithOp::Div => left / right,
        ArithOp::Rem => left % right,
    })
}

/// `pick` for two numbers, or NaN when either is NaN.
fn nan_or(pick: fn(f64, f64) -> f64) -> impl Fn(f64, f64) -> f64 {
    move |a, b| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            pick(a, b)
        }
    }
}

fn equal(left: &Value<'_>, right: &Value<'_>, what: &Operator) -> Result<bool, FormulaError> {
    match (left, right) {
        (Value::Num(a), Value::Num(b)) => Ok(a == b),
        (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
        (Value::Nil(_), Value::Nil(_)) => Ok(true),
        (Value::Nil(_), _) | (_, Value::Nil(_)) => Ok(false),
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Ok(false);
            }
            for (x, y) in a.iter().zip(b) {
                if !equal(x, y, what)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (a, b) => Err(FormulaError::new(format!(
            "{what} cannot compare {} with {}",
            a.kind(),
            b.kind()
        ))),
    }
}

/// The elements of `value`, which must be an array.
fn elements<'v, 'a>(
    value: &'v Value<'a>,
    what: &Function,
) -> Result<&'v [Value<'a>], FormulaError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Nil(Some(name)) => Err(FormulaError::nil(Some(name), "array")),
        other => Err(FormulaError::new(format!(
            "{what} expects an array, got {}",
            other.kind()
        ))),
    }
}

/// The numbers among `values`, arrays flattened one level (`max(a, [b, c])`).
fn numbers(values: &[Value<'_>], what: &Function) -> Result<Vec<f64>, FormulaError> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        match value {
            Value::Array(items) => {
                for item in items {
                    out.push(number(item, what)?);
                }
            }
            other => out.push(number(other, what)?),
        }
    }
    if out.is_empty() {
        return Err(FormulaError::new(format!("{what} got no numbers")));
    }
    Ok(out)
}

/// The middle number, or the mean of the two middle ones (NaN when any is NaN).
fn median(mut values: Vec<f64>) -> f64 {
    if values.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn call<'a>(func: Func, args: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let what = Function(func);
    if func.takes_predicate() {
        return call_with_predicate(func, args, cx);
    }
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(eval(arg, cx)?);
    }
    if let Func::Max | Func::Min | Func::Mean | Func::Median = func {
        let values = numbers(&values, &what)?;
        let first = values.first().copied().unwrap_or(f64::NAN);
        return Ok(Value::Num(match func {
            // Unlike `f64::max`, a NaN argument is not skipped: it makes the
            // result NaN, which the final finiteness check then reports.
            Func::Max => values.iter().copied().fold(first, nan_or(f64::max)),
            Func::Min => values.iter().copied().fold(first, nan_or(f64::min)),
            Func::Mean => values.iter().sum::<f64>() / values.len() as f64,
            _ => median(values),
        }));
    }
    let arg = values.first().cloned().unwrap_or(Value::Nil(None));
    if func == Func::Len {
        return Ok(Value::Num(elements(&arg, &what)?.len() as f64));
    }
    let first = number(&arg, &what)?;
    Ok(Value::Num(match func {
        Func::Abs => first.abs(),
        Func::Ceil => first.ceil(),
        Func::Floor => first.floor(),
        Func::Round => first.round(),
        Func::Int => first.trunc(),
        _ => first,
    }))
}

/// The functions over an array whose second argument is a predicate applied to each element
/// (`count([a, b], {# > 1})`); `all`, `any`, `none` and `one` stop as soon as they know.
fn call_with_predicate<'a>(func: Func, args: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let what = Function(func);
    let Some(array) = args.first() else {
        return Err(FormulaError::new(format!("{what} needs an array")));
    };
    let array = eval(array, cx)?;
    let items = elements(&array, &what)?;
    let predicate = args.get(1);
    // Applies the predicate to `item`, or gives the item itself when there is none.
    let apply = |item: &Value<'a>| -> EvalResult<'a> {
        cx.step()?;
        match predicate {
            Some(body) => eval(
                body,
                Cx {
                    lookup: cx.lookup,
                    elem: Some(item),
                    steps: cx.steps,
                },
            ),
            None => Ok(item.clone()),
        }
    };
    let mut kept = Vec::new();
    let mut total = 0.0;
    let mut matched = 0usize;
    for item in items {
        let result = apply(item)?;
        match func {
            Func::Map => kept.push(result),
            Func::Sum => total += number(&result, &what)?,
            _ => {
                let holds = boolean(&result, &what)?;
                match func {
                    Func::All if !holds => return Ok(Value::Bool(false)),
                    Func::Any if holds => return Ok(Value::Bool(true)),
                    Func::None if holds => return Ok(Value::Bool(false)),
                    Func::Filter if holds => kept.push(item.clone()),
                    _ if holds => matched += 1,
                    _ => {}
                }
                if func == Func::One && matched > 1 {
                    return Ok(Value::Bool(false));
                }
            }
        }
    }
    Ok(match func {
        Func::All | Func::None => Value::Bool(true),
        Func::Any => Value::Bool(false),
        Func::One => Value::Bool(matched == 1),
        Func::Count => Value::Num(matched as f64),
        Func::Sum => Value::Num(total),
        _ => Value::Array(kept),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Test variables: `(name, value)`; names not listed have no value.
    type Vars<'a> = &'a [(&'a str, f64)];

    fn lookup_in<'a>(vars: Vars<'a>) -> impl Fn(&str) -> Option<f64> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| *value)
        }
    }

    fn parse(source: &str) -> Formula {
        match Formula::parse(source) {
            Ok(formula) => formula,
            Err(e) => panic!("{source:?} did not parse: {e} ({:?})", e.position),
        }
    }

    /// Evaluates to a raw value (so boolean results can be checked too).
    fn value(source: &str, vars: Vars<'_>) -> Result<Value<'static>, FormulaError> {
        let formula = parse(source);
        let lookup = lookup_in(vars);
        let steps = Cell::new(0);
        let cx = Cx {
            lookup: &lookup,
            elem: None,
            steps: &steps,
        };
        eval(&formula.expr, cx).map(|v| detach(&v))
    }

    /// The value without the formula's lifetime (nil forgets its trigger).
    fn detach(value: &Value<'_>) -> Value<'static> {
        match value {
            Value::Num(n) => Value::Num(*n),
            Value::Bool(b) => Value::Bool(*b),
            Value::Nil(_) => Value::Nil(None),
            Value::Array(items) => Value::Array(items.iter().map(detach).collect()),
        }
    }

    fn eval_ok(source: &str, vars: Vars<'_>) -> f64 {
        match parse(source).eval(&lookup_in(vars)) {
            Ok(n) => n,
            Err(e) => panic!("{source:?} did not evaluate: {e}"),
        }
    }

    fn eval_err(source: &str, vars: Vars<'_>) -> FormulaError {
        match parse(source).eval(&lookup_in(vars)) {
            Ok(n) => panic!("{source:?} evaluated to {n}, expected an error"),
            Err(e) => e,
        }
    }

    fn parse_err(source: &str) -> FormulaError {
        match Formula::parse(source) {
            Ok(f) => panic!("{source:?} parsed as {:?}, expected an error", f.expr),
            Err(e) => e,
        }
    }

    const N: fn(f64) -> Value<'static> = Value::Num;
    const B: fn(bool) -> Value<'static> = Value::Bool;

    #[test]
    fn operators_and_precedence() {
        let x: Vars<'_> = &[("x", 3.0), ("y", -2.0), ("z", 0.5)];
        let cases: &[(&str, Vars<'_>, Value<'_>)] = &[
            // Literals.
            ("12", &[], N(12.0)),
            ("1.5", &[], N(1.5)),
            (".5", &[], N(0.5)),
            ("1.", &[], N(1.0)),
            ("1e3", &[], N(1000.0)),
            ("2.5E-3", &[], N(0.0025)),
            ("1e+2", &[], N(100.0)),
            ("1_000", &[], N(1000.0)),
            ("1_000.000_5", &[], N(1000.0005)),
            ("0x1F", &[], N(31.0)),
            ("0X_ff", &[], N(255.0)),
            ("0o17", &[], N(15.0)),
            ("0b101", &[], N(5.0)),
            ("012", &[], N(12.0)),
            ("true", &[], B(true)),
            ("false", &[], B(false)),
            ("nil", &[], Value::Nil(None)),
            ("x", x, N(3.0)),
            // Arithmetic.
            ("1 + 2", &[], N(3.0)),
            ("5 - 7", &[], N(-2.0)),
            ("3 * 4", &[], N(12.0)),
            ("7 / 2", &[], N(3.5)),
            ("7 % 3", &[], N(1.0)),
            ("-7 % 3", &[], N(-1.0)),
            ("5.5 % 2", &[], N(1.5)),
            ("2 ** 10", &[], N(1024.0)),
            ("2 ^ 3", &[], N(8.0)),
            ("2 ** -1", &[], N(0.5)),
            ("2 ** 3 ** 2", &[], N(512.0)),
            ("2 ^ 3 ^ 2", &[], N(512.0)),
            ("(2 ** 3) ** 2", &[], N(64.0)),
            ("-2 ** 2", &[], N(-4.0)),
            ("(-2) ** 2", &[], N(4.0)),
            ("-x", x, N(-3.0)),
            ("+x", x, N(3.0)),
            ("- -x", x, N(3.0)),
            ("--x", x, N(3.0)),
            ("-x * 2", x, N(-6.0)),
            ("1 + 2 * 3", &[], N(7.0)),
            ("(1 + 2) * 3", &[], N(9.0)),
            ("10 - 4 - 3", &[], N(3.0)),
            ("24 / 4 / 2", &[], N(3.0)),
            ("2 * 3 % 4", &[], N(2.0)),
            ("1 + 2 ** 2 * 3", &[], N(13.0)),
            ("x + y * z", x, N(2.0)),
            // Comparison.
            ("1 < 2", &[], B(true)),
            ("2 < 2", &[], B(false)),
            ("2 <= 2", &[], B(true)),
            ("3 > 2", &[], B(true)),
            ("2 >= 3", &[], B(false)),
            ("1 + 1 < 3", &[], B(true)),
            ("1 < x < 5", x, B(true)),
            ("1 < x < 2", x, B(false)),
            ("1 < 2 < 3", &[], B(true)),
            ("3 > 2 > 1", &[], B(true)),
            ("5 > x >= 3", x, B(true)),
            ("1 == 1", &[], B(true)),
            ("1 != 1", &[], B(false)),
            ("true == true", &[], B(true)),
            ("true != false", &[], B(true)),
            ("x == 3", x, B(true)),
            ("(1 < 2) == (2 < 3)", &[], B(true)),
            ("!true == false", &[], B(true)),
            ("1 == 1 == true", &[], B(true)),
            ("nil == nil", &[], B(true)),
            ("nil != 1", &[], B(true)),
            ("missing == nil", &[], B(true)),
            ("x == nil", x, B(false)),
            ("1 == nil", &[], B(false)),
            ("nil == false", &[], B(false)),
            // Logic.
            ("true && false", &[], B(false)),
            ("true and true", &[], B(true)),
            ("false || true", &[], B(true)),
            ("false or false", &[], B(false)),
            ("true || false && false", &[], B(true)),
            ("(true || false) && false", &[], B(false)),
            ("true or false and false", &[], B(true)),
            ("!true", &[], B(false)),
            ("!!true", &[], B(true)),
            ("not false", &[], B(true)),
            ("not (1 < 2)", &[], B(false)),
            ("!(x > 1) || x > 2", x, B(true)),
            ("x > 1 && x < 5", x, B(true)),
            ("1 < 2 && 2 < 3 && 3 < 4", &[], B(true)),
            // Nil-coalescing.
            ("missing ?? 4", &[], N(4.0)),
            ("x ?? 4", x, N(3.0)),
            ("missing ?? other ?? 5", &[], N(5.0)),
            ("nil ?? 1", &[], N(1.0)),
            ("missing ?? 1 + 2", &[], N(3.0)),
            ("x ?? 1 + 2", x, N(5.0)),
            ("1 + missing ?? 2", &[], N(3.0)),
            ("2 * missing ?? 3", &[], N(6.0)),
            ("(missing ?? 1) + 2", &[], N(3.0)),
            ("missing ?? x > 2", x, B(true)),
            ("missing ?? nil", &[], Value::Nil(None)),
            ("missing ?? 0 > 1 ? 10 : 20", &[], N(20.0)),
            // As in expr, `??` binds tighter than `**` and unary minus.
            ("2 ?? 3 ** 2", &[], N(4.0)),
            ("-missing ?? 1", &[], N(-1.0)),
            // Ternary.
            ("true ? 1 : 2", &[], N(1.0)),
            ("false ? 1 : 2", &[], N(2.0)),
            ("x > 2 ? x : 0", x, N(3.0)),
            ("x > 5 ? 1 : x > 2 ? 2 : 3", x, N(2.0)),
            ("x > 5 ? 1 : (x > 2 ? 2 : 3)", x, N(2.0)),
            ("true ? false ? 1 : 2 : 3", &[], N(2.0)),
            ("(true ? 1 : 2) + 10", &[], N(11.0)),
            ("true ? 1 : 2 + 10", &[], N(1.0)),
            // Functions.
            ("min(3, 1, 2)", &[], N(1.0)),
            ("max(3, 1, 2)", &[], N(3.0)),
            ("max(-4)", &[], N(-4.0)),
            ("abs(-2.5)", &[], N(2.5)),
            ("ceil(1.2)", &[], N(2.0)),
            ("ceil(-1.2)", &[], N(-1.0)),
            ("floor(1.8)", &[], N(1.0)),
            ("floor(-1.2)", &[], N(-2.0)),
            ("round(2.5)", &[], N(3.0)),
            ("round(-2.5)", &[], N(-3.0)),
            ("round(2.4)", &[], N(2.0)),
            ("float(7)", &[], N(7.0)),
            ("int(2.9)", &[], N(2.0)),
            ("int(-2.9)", &[], N(-2.0)),
            ("max(1, x, 2)", x, N(3.0)),
            ("min(1, x, 2)", x, N(1.0)),
            ("max(x, y * 2) + min(z)", x, N(3.5)),
            ("abs(min(y, -10))", x, N(10.0)),
            ("max(x > 1 ? 5 : 6, 1)", x, N(5.0)),
            // Whitespace and comments.
            ("  1\t+\n2 ", &[], N(3.0)),
            ("1 + /* two */ 2", &[], N(3.0)),
            ("1 + 2 // the rest is ignored", &[], N(3.0)),
            ("// first line\n1 + 2", &[], N(3.0)),
            ("1\u{a0}+\u{2003}2", &[], N(3.0)),
        ];
        for (source, vars, expected) in cases {
            match value(source, vars) {
                Ok(actual) => assert_eq!(actual, *expected, "{source}"),
                Err(e) => panic!("{source:?} failed: {e}"),
            }
        }
    }

    #[test]
    fn keda_examples() {
        let vars: Vars<'_> = &[
            ("trig_one", 3.0),
            ("trig_two", 4.5),
            ("queue_a", 10.0),
            ("queue_b", 20.0),
            ("kafka", 7.0),
            ("prom", 5.0),
            ("other", 6.0),
        ];
        assert_eq!(eval_ok("trig_one + trig_two", vars), 7.5);
        assert_eq!(eval_ok("(queue_a + queue_b) / 2", vars), 15.0);
        assert_eq!(eval_ok("max(kafka, prom * 2)", vars), 10.0);
        assert_eq!(eval_ok("trig_one > 2 ? trig_one : 0", vars), 3.0);
        assert_eq!(eval_ok("trig_one > 5 ? trig_one : 0", vars), 0.0);
        // `??` binds tighter than `+`, as in expr: (missing ?? 0) + other.
        assert_eq!(eval_ok("missing ?? 0 + other", vars), 6.0);
        assert_eq!(eval_ok("trig_one ?? 0 + other", vars), 9.0);
        assert_eq!(eval_ok("trig_one + missing ?? 0", vars), 3.0);
        assert_eq!(
            parse("missing ?? 0 + other").expr,
            parse("(missing ?? 0) + other").expr
        );
        assert_ne!(
            parse("missing ?? 0 + other").expr,
            parse("missing ?? (0 + other)").expr
        );
        assert_eq!(eval_ok("(missing ?? 0) + other", vars), 6.0);
        assert_eq!(eval_ok("(trig_one ?? 0) + other", vars), 9.0);
        assert_eq!(
            eval_ok(
                "trig_one < 2 && trig_two < 2 ? 0 : trig_one + trig_two",
                vars
            ),
            7.5
        );
    }

    #[test]
    fn keda_array_predicates_and_builtins() {
        // KEDA's documented example: the composite is 5 when more than one trigger exceeds 1.
        let source = "count([trig_one, trig_two], {# > 1}) > 1 ? 5 : 0";
        assert_eq!(
            eval_ok(source, &[("trig_one", 3.0), ("trig_two", 4.5)]),
            5.0
        );
        assert_eq!(
            eval_ok(source, &[("trig_one", 0.5), ("trig_two", 4.5)]),
            0.0
        );
        let x: Vars<'_> = &[("a", 3.0), ("b", 1.0), ("c", 4.0)];
        let cases: &[(&str, Value<'_>)] = &[
            // Predicates with and without braces.
            ("count([a, b, c], # > 1)", N(2.0)),
            ("count([a, b, c], {# > 1 && # < 4})", N(1.0)),
            ("count([true, false, true])", N(2.0)),
            ("count([], # > 1)", N(0.0)),
            ("all([a, b, c], # > 0)", B(true)),
            ("all([a, b, c], {# > 1})", B(false)),
            ("all([], # > 1)", B(true)),
            ("any([a, b, c], # > 3)", B(true)),
            ("any([], # > 1)", B(false)),
            ("none([a, b, c], # > 4)", B(true)),
            ("none([a, b], # == 3)", B(false)),
            ("one([a, b, c], # > 3)", B(true)),
            ("one([a, b, c], # > 1)", B(false)),
            (
                "filter([a, b, c], # >= 3)",
                Value::Array(vec![N(3.0), N(4.0)]),
            ),
            ("map([a, b], # * 2)", Value::Array(vec![N(6.0), N(2.0)])),
            ("len(filter([a, b, c], # > 1))", N(2.0)),
            // Aggregates.
            ("sum([a, b, c])", N(8.0)),
            ("sum([a, b], # * 10)", N(40.0)),
            ("sum([])", N(0.0)),
            ("sum(map([a, b], # ** 2))", N(10.0)),
            ("mean([a, b, c, 4])", N(3.0)),
            ("mean(a, b)", N(2.0)),
            ("median([c, a, b])", N(3.0)),
            ("median([4, 1, 3, 2])", N(2.5)),
            ("max([a, b], c)", N(4.0)),
            ("max([a, b, c])", N(4.0)),
            ("min([a, c])", N(3.0)),
            ("max(map([a, b, c], # - 1))", N(3.0)),
            ("round(mean([a, b]) / 3)", N(1.0)),
            // Nesting: `#` is the innermost element.
            ("count([1, 2, 3], count([a, b], # > 2) > 0)", N(3.0)),
            ("sum(map([1, 2], sum(map([10, 20], #))))", N(60.0)),
            ("sum(map([1, 2], # + sum([#])))", N(6.0)),
            // Arrays as values.
            ("[a, 1]", Value::Array(vec![N(3.0), N(1.0)])),
            ("[]", Value::Array(vec![])),
            (
                "[[a], []]",
                Value::Array(vec![Value::Array(vec![N(3.0)]), Value::Array(vec![])]),
            ),
            ("[1, 2] == [1, 2]", B(true)),
            ("[1] == [1, 2]", B(false)),
            ("[1, nil] != [1, 2]", B(true)),
            // A missing trigger is nil in an array, and `??` replaces it.
            ("count([missing ?? 0, a], {# > 1})", N(1.0)),
            ("count([missing, a], {# != nil})", N(1.0)),
        ];
        for (source, expected) in cases {
            match value(source, x) {
                Ok(actual) => assert_eq!(actual, *expected, "{source}"),
                Err(e) => panic!("{source:?} failed: {e}"),
            }
        }
        assert_eq!(
            parse("count([a, b], {# > c}) + sum(map([d], #))").variables(),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn expr_precedence_of_prefix_operators_and_comparisons() {
        // expr: `!`/`not` (50) bind looser than `*` (60), unary `-`/`+` (90) looser than `**`
        // (100) and `??` (500); `==` and `<` share one level (20), and only `<`, `<=`, `>`,
        // `>=` chain.
        let same = |a: &str, b: &str| assert_eq!(parse(a).expr, parse(b).expr, "{a} vs {b}");
        same("!a * b", "!(a * b)");
        same("!a + b", "(!a) + b");
        same("not a * b == c", "(not (a * b)) == c");
        same("-a * b", "(-a) * b");
        same("-a ** b", "-(a ** b)");
        same("-a ?? b", "-(a ?? b)");
        same("a ?? b ** 2", "(a ?? b) ** 2");
        same("a ** b ?? c", "a ** (b ?? c)");
        same("a == b < c", "(a == b) < c");
        same("a < b == c", "(a < b) == c");
        same("a < b < c == d", "(a < b < c) == d");
    }

    #[test]
    fn evaluation_is_bounded_in_steps() {
        let list = format!("[{}1]", "1, ".repeat(99));
        let nested = format!("sum(map({list}, sum(map({list}, sum(map({list}, 1))))))");
        assert_eq!(
            eval_err(&nested, &[]).message,
            "the formula takes more than 100000 steps"
        );
        let two = format!("sum(map({list}, sum(map({list}, 1))))");
        assert_eq!(eval_ok(&two, &[]), 10_000.0);
    }

    #[test]
    fn variables_are_sorted_deduplicated_and_exclude_functions() {
        let formula = parse("max(b_trig, a_trig * 2) + b_trig ?? min(c) + not_a_keyword");
        assert_eq!(
            formula.variables(),
            ["a_trig", "b_trig", "c", "not_a_keyword"]
        );
        assert_eq!(
            parse("true && false ? nil : 1").variables(),
            Vec::<&str>::new()
        );
        assert_eq!(parse("_x1 + X + x").variables(), ["X", "_x1", "x"]);
        // A function name not followed by `(` is an ordinary variable.
        assert_eq!(parse("max + 1").variables(), ["max"]);
        assert_eq!(eval_ok("max + 1", &[("max", 2.0)]), 3.0);
    }

    #[test]
    fn source_display_and_from_str() {
        let source = " (queue_a + queue_b) / 2 ";
        let formula: Formula = match source.parse() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(formula.source(), source);
        assert_eq!(formula.to_string(), source);
        assert_eq!(formula, parse(source));
        let err = "1 +".parse::<Formula>().err();
        assert_eq!(
            err,
            Some(FormulaError {
                message: "unexpected end of formula".into(),
                position: Some(3),
            })
        );
    }

    #[test]
    fn parse_errors() {
        let known = "known: abs, all, any, ceil, count, filter, float, floor, int, len, map, max, \
                     mean, median, min, none, one, round, sum";
        let cases: &[(&str, String, Option<usize>)] = &[
            ("", "the formula is empty".into(), None),
            ("  \n\t", "the formula is empty".into(), None),
            ("// nothing", "the formula is empty".into(), None),
            ("/* nothing */", "the formula is empty".into(), None),
            ("(1 + 2))", "unexpected \")\" at position 7".into(), Some(7)),
            ("1 +", "unexpected end of formula".into(), Some(3)),
            ("(1 + 2", "unexpected end of formula".into(), Some(6)),
            ("x ? 1", "unexpected end of formula".into(), Some(5)),
            ("x ? 1 2", "unexpected \"2\" at position 6".into(), Some(6)),
            ("1 2", "unexpected \"2\" at position 2".into(), Some(2)),
            ("a b", "unexpected \"b\" at position 2".into(), Some(2)),
            ("* 2", "unexpected \"*\" at position 0".into(), Some(0)),
            (
                "1 + and",
                "unexpected \"and\" at position 4".into(),
                Some(4),
            ),
            ("or", "unexpected \"or\" at position 0".into(), Some(0)),
            ("()", "unexpected \")\" at position 1".into(), Some(1)),
            ("max(1,)", "unexpected \")\" at position 6".into(), Some(6)),
            ("max(1 2)", "unexpected \"2\" at position 6".into(), Some(6)),
            ("max(,1)", "unexpected \",\" at position 4".into(), Some(4)),
            ("1 ? : 2", "unexpected \":\" at position 4".into(), Some(4)),
            (
                "sqrtt(4)",
                format!("unknown function \"sqrtt\" at position 0; {known}"),
                Some(0),
            ),
            (
                "1 + Max(2)",
                format!("unknown function \"Max\" at position 4; {known}"),
                Some(4),
            ),
            (
                "abs(1, 2)",
                "abs() takes exactly 1 argument, got 2 at position 0".into(),
                Some(0),
            ),
            (
                "2 * round()",
                "round() takes exactly 1 argument, got 0 at position 4".into(),
                Some(4),
            ),
            (
                "max()",
                "max() takes at least 1 argument, got 0 at position 0".into(),
                Some(0),
            ),
            (
                "min( )",
                "min() takes at least 1 argument, got 0 at position 0".into(),
                Some(0),
            ),
            (
                "1 + $",
                "unexpected character \"$\" at position 4".into(),
                Some(4),
            ),
            (
                "a $ b",
                "unexpected character \"$\" at position 2".into(),
                Some(2),
            ),
            (
                "x = 1",
                "unexpected character \"=\" at position 2".into(),
                Some(2),
            ),
            (
                "a & b",
                "unexpected character \"&\" at position 2".into(),
                Some(2),
            ),
            (
                "a | b",
                "unexpected character \"|\" at position 2".into(),
                Some(2),
            ),
            (
                "\"s\"",
                "unexpected character \"\\\"\" at position 0".into(),
                Some(0),
            ),
            (
                "a > 2 ? 'many' : 1",
                "unexpected character \"'\" at position 8".into(),
                Some(8),
            ),
            (
                "a.b",
                "unexpected character \".\" at position 1".into(),
                Some(1),
            ),
            (
                "1..2",
                "unexpected character \".\" at position 1".into(),
                Some(1),
            ),
            (
                "é + 1",
                "unexpected character \"é\" at position 0".into(),
                Some(0),
            ),
            (
                "1 + é",
                "unexpected character \"é\" at position 4".into(),
                Some(4),
            ),
            (
                "1 + /* open",
                "unterminated comment at position 4".into(),
                Some(4),
            ),
            ("2x", "invalid number \"2x\" at position 0".into(), Some(0)),
            (
                "1 + 1e",
                "invalid number \"1e\" at position 4".into(),
                Some(4),
            ),
            (
                "1e+",
                "invalid number \"1e+\" at position 0".into(),
                Some(0),
            ),
            ("1_", "invalid number \"1_\" at position 0".into(), Some(0)),
            (
                "1__0",
                "invalid number \"1__0\" at position 0".into(),
                Some(0),
            ),
            (
                "1_.5",
                "invalid number \"1_.5\" at position 0".into(),
                Some(0),
            ),
            (
                "1_e3",
                "invalid number \"1_e3\" at position 0".into(),
                Some(0),
            ),
            ("0x", "invalid number \"0x\" at position 0".into(), Some(0)),
            (
                "# > 1",
                "\"#\" outside a predicate at position 0".into(),
                Some(0),
            ),
            (
                "max([1], # > 1)",
                "\"#\" outside a predicate at position 9".into(),
                Some(9),
            ),
            (
                "count([1], {# > 1)",
                "unexpected \")\" at position 17".into(),
                Some(17),
            ),
            ("{1}", "unexpected \"{\" at position 0".into(), Some(0)),
            ("[1, 2", "unexpected end of formula".into(), Some(5)),
            ("[1,]", "unexpected \"]\" at position 3".into(), Some(3)),
            (
                "all([1])",
                "all() takes exactly 2 arguments (an array and a predicate), got 1 at position 0"
                    .into(),
                Some(0),
            ),
            (
                "1 + count()",
                "count() takes an array and an optional predicate, got 0 at position 4".into(),
                Some(4),
            ),
            (
                "sum([1], # > 0, 2)",
                "sum() takes an array and an optional predicate, got 3 at position 0".into(),
                Some(0),
            ),
            (
                "0xG",
                "invalid number \"0xG\" at position 0".into(),
                Some(0),
            ),
            (
                "0b102",
                "invalid number \"0b102\" at position 0".into(),
                Some(0),
            ),
            (
                "1e999",
                "number \"1e999\" is too large at position 0".into(),
                Some(0),
            ),
            (
                "0xFFFFFFFFFFFFFFFF",
                "number \"0xFFFFFFFFFFFFFFFF\" is too large at position 0".into(),
                Some(0),
            ),
        ];
        for (source, message, position) in cases {
            let err = parse_err(source);
            assert_eq!(err.message, *message, "{source:?}");
            assert_eq!(err.position, *position, "{source:?}");
            assert_eq!(err.to_string(), *message, "{source:?}");
        }
    }

    #[test]
    fn limits() {
        // Nesting.
        let nested = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        assert!(Formula::parse(&nested(63)).is_ok());
        let err = parse_err(&nested(64));
        assert_eq!(err.message, "the formula is nested too deeply");
        assert_eq!(err.position, None);
        assert_eq!(
            parse_err(&nested(2000)).message,
            "the formula is nested too deeply"
        );
        for prefix in [
            "-",
            "!",
            "not ",
            "+",
            "abs(",
            "2 ** ",
            "true ? 1 : ",
            "[",
            "count([1], ",
            "all([1], {",
        ] {
            let source = format!("{}1", prefix.repeat(4000 / prefix.len()));
            assert_eq!(
                parse_err(&source).message,
                "the formula is nested too deeply",
                "{prefix}"
            );
        }
        assert_eq!(eval_ok(&format!("{}1", "-".repeat(62)), &[]), 1.0);
        assert_eq!(eval_ok(&format!("{}1", "-".repeat(63)), &[]), -1.0);
        assert_eq!(
            parse_err(&format!("{}1", "-".repeat(64))).message,
            "the formula is nested too deeply"
        );
        let calls = |n: usize| format!("{}1{}", "max(1, ".repeat(n), ")".repeat(n));
        assert_eq!(eval_ok(&calls(63), &[]), 1.0);
        assert_eq!(
            parse_err(&calls(64)).message,
            "the formula is nested too deeply"
        );

        // Operators between parentheses make the tree taller than the
        // parentheses alone: each group below adds 7 levels to the tree.
        let group = |n: usize| format!("{}x{}", "(".repeat(n), "??h*b+c<d==e&&f||g)".repeat(n));
        assert!(Formula::parse(&group(9)).is_ok()); // 9 * 7 + 1 = 64
        assert_eq!(
            parse_err(&group(10)).message,
            "the formula is nested too deeply"
        );
        assert_eq!(
            parse_err(&group(63)).message,
            "the formula is nested too deeply"
        );
        // Rising precedence nests in the parser.
        let rising = |n: usize| {
            format!(
                "{}x{}",
                "x || x && x == x < x + x * x ?? -x ** (".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(Formula::parse(&rising(7)).is_ok());
        assert_eq!(
            parse_err(&rising(8)).message,
            "the formula is nested too deeply"
        );

        // Long flat chains are fine: they are not nesting.
        let sum = format!("1{}", "+1".repeat(2000));
        assert_eq!(eval_ok(&sum, &[]), 2001.0);
        let ors = format!("false{}", " || false".repeat(400));
        assert_eq!(value(&ors, &[]), Ok(Value::Bool(false)));

        // Length.
        let long = format!("1{}", " ".repeat(4095));
        assert!(Formula::parse(&long).is_ok());
        let too_long = format!("1{}", " ".repeat(4096));
        let err = parse_err(&too_long);
        assert_eq!(err.message, "the formula is longer than 4096 bytes");
        assert_eq!(err.position, None);
    }

    #[test]
    fn eval_errors() {
        let x: Vars<'_> = &[("x", 3.0), ("zero", 0.0)];
        let cases: &[(&str, &str)] = &[
            ("missing + 1", "trigger \"missing\" has no value"),
            ("1 + missing", "trigger \"missing\" has no value"),
            ("x * missing", "trigger \"missing\" has no value"),
            ("-missing", "trigger \"missing\" has no value"),
            ("missing", "trigger \"missing\" has no value"),
            ("missing ?? other", "trigger \"other\" has no value"),
            ("(missing ?? other) + 1", "trigger \"other\" has no value"),
            ("missing > 1 ? 1 : 0", "trigger \"missing\" has no value"),
            ("missing ? 1 : 0", "trigger \"missing\" has no value"),
            ("!missing ? 1 : 0", "trigger \"missing\" has no value"),
            ("max(x, missing)", "trigger \"missing\" has no value"),
            (
                "1 < x < missing ? 1 : 0",
                "trigger \"missing\" has no value",
            ),
            ("missing ** 2", "trigger \"missing\" has no value"),
            ("nil + 1", "nil used as a number"),
            ("abs(nil)", "nil used as a number"),
            ("nil > 1 ? 1 : 0", "nil used as a number"),
            ("nil ? 1 : 0", "nil used as a boolean"),
            ("nil && true ? 1 : 0", "nil used as a boolean"),
            ("nil", "the formula yields nil, expected a number"),
            (
                "missing ?? nil",
                "the formula yields nil, expected a number",
            ),
            ("1 / 0", "division by zero"),
            ("x / zero", "division by zero"),
            ("x % 0", "division by zero"),
            ("x % (zero * -1)", "division by zero"),
            ("1 < 2", "the formula yields a boolean, expected a number"),
            ("true", "the formula yields a boolean, expected a number"),
            (
                "x == nil",
                "the formula yields a boolean, expected a number",
            ),
            ("1e308 * 10", "the formula yields a non-finite number"),
            ("-1e308 - 1e308", "the formula yields a non-finite number"),
            ("(-1) ** 0.5", "the formula yields a non-finite number"),
            ("true + 1", "operator \"+\" expects numbers, got a boolean"),
            (
                "1 - (1 < 2)",
                "operator \"-\" expects numbers, got a boolean",
            ),
            ("-true", "operator \"-\" expects numbers, got a boolean"),
            ("+false", "operator \"+\" expects numbers, got a boolean"),
            (
                "true ** 2",
                "operator \"**\" expects numbers, got a boolean",
            ),
            (
                "true < 1 ? 1 : 0",
                "operator \"<\" expects numbers, got a boolean",
            ),
            // Parentheses end a comparison chain.
            (
                "(1 < 2) < 3 ? 1 : 0",
                "operator \"<\" expects numbers, got a boolean",
            ),
            (
                "abs(true)",
                "function \"abs\" expects numbers, got a boolean",
            ),
            (
                "min(1, false)",
                "function \"min\" expects numbers, got a boolean",
            ),
            (
                "!1 ? 1 : 0",
                "operator \"!\" expects booleans, got a number",
            ),
            (
                "1 && true ? 1 : 0",
                "operator \"&&\" expects booleans, got a number",
            ),
            (
                "true && 1 ? 1 : 0",
                "operator \"&&\" expects booleans, got a number",
            ),
            (
                "false or 2 ? 1 : 0",
                "operator \"||\" expects booleans, got a number",
            ),
            (
                "1 ? 2 : 3",
                "the condition of \"?:\" must be a boolean, got a number",
            ),
            (
                "1 == true ? 2 : 3",
                "operator \"==\" cannot compare a number with a boolean",
            ),
            (
                "true != 0 ? 2 : 3",
                "operator \"!=\" cannot compare a boolean with a number",
            ),
            // As in expr, `==` and `<` share a level: this is `((1 < 2) == 2) < 3`.
            (
                "1 < 2 == 2 < 3 ? 1 : 0",
                "operator \"==\" cannot compare a boolean with a number",
            ),
            (
                "count(x, # > 1)",
                "function \"count\" expects an array, got a number",
            ),
            (
                "count([x], # + 1)",
                "function \"count\" expects booleans, got a number",
            ),
            (
                "count([1, 2])",
                "function \"count\" expects booleans, got a number",
            ),
            (
                "sum([true])",
                "function \"sum\" expects numbers, got a boolean",
            ),
            (
                "map([1], # > 0)",
                "the formula yields an array, expected a number",
            ),
            ("[1, 2]", "the formula yields an array, expected a number"),
            ("max([])", "function \"max\" got no numbers"),
            ("median([], [])", "function \"median\" got no numbers"),
            ("len(1)", "function \"len\" expects an array, got a number"),
            (
                "count([missing], # > 1)",
                "trigger \"missing\" has no value",
            ),
            ("count(missing, # > 1)", "trigger \"missing\" has no value"),
            ("[1] + 1", "operator \"+\" expects numbers, got an array"),
            (
                "[1] == 1 ? 1 : 0",
                "operator \"==\" cannot compare an array with a number",
            ),
            (
                "[1] ? 1 : 0",
                "the condition of \"?:\" must be a boolean, got an array",
            ),
        ];
        for (source, message) in cases {
            let err = eval_err(source, x);
            assert_eq!(err.message, *message, "{source:?}");
            assert_eq!(err.position, None, "{source:?}");
        }
    }

    #[test]
    fn odd_values() {
        let nan: Vars<'_> = &[("nan", f64::NAN), ("inf", f64::INFINITY)];
        let non_finite = "the formula yields a non-finite number";
        for source in [
            "nan",
            "max(nan, 1)",
            "min(1, nan)",
            "inf",
            "-inf",
            "abs(inf)",
        ] {
            assert_eq!(eval_err(source, nan).message, non_finite, "{source}");
        }
        assert_eq!(eval_ok("1 / inf", nan), 0.0);
        // A negative zero comes out as zero.
        let zero = eval_ok("int(-0.5)", &[]);
        assert!(zero == 0.0 && zero.is_sign_positive());
        assert!(eval_ok("-0", &[]).is_sign_positive());
    }

    #[test]
    fn short_circuit_skips_unneeded_operands() {
        let seen = RefCell::new(Vec::new());
        let lookup = |name: &str| {
            seen.borrow_mut().push(name.to_owned());
            match name {
                "x" => Some(1.0),
                _ => None,
            }
        };
        let cases: &[(&str, f64)] = &[
            ("true || skipped > 0 ? 1 : 0", 1.0),
            ("false && skipped > 0 ? 1 : 0", 0.0),
            ("x > 5 && skipped > 0 ? 1 : 0", 0.0),
            ("x ?? skipped", 1.0),
            ("5 ?? skipped ?? skipped", 5.0),
            ("true ? x : skipped", 1.0),
            ("false ? skipped : x", 1.0),
            ("x > 2 > skipped ? 1 : 0", 0.0),
            ("x < 0 < skipped ? 1 : 0", 0.0),
        ];
        for (source, expected) in cases {
            seen.borrow_mut().clear();
            assert_eq!(parse(source).eval(&lookup), Ok(*expected), "{source}");
            assert!(
                !seen.borrow().iter().any(|name| name == "skipped"),
                "{source}: looked up {:?}",
                seen.borrow()
            );
        }
        // Each operand of a comparison chain is evaluated once.
        seen.borrow_mut().clear();
        assert_eq!(parse("0 < x < 2 ? 1 : 0").eval(&lookup), Ok(1.0));
        assert_eq!(*seen.borrow(), ["x"]);
    }

    /// A small deterministic generator (xorshift64*), so no `rand` crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Checks the invariants that must hold for any input.
    fn check_no_panic(source: &str, lookup: &dyn Fn(&str) -> Option<f64>) {
        match Formula::parse(source) {
            Ok(formula) => {
                assert_eq!(formula.source(), source);
                assert_eq!(Formula::parse(&formula.to_string()).as_ref(), Ok(&formula));
                let vars = formula.variables();
                assert!(vars.windows(2).all(|w| w[0] < w[1]), "{vars:?}");
                match formula.eval(lookup) {
                    Ok(n) => assert!(n.is_finite(), "{source:?} gave {n}"),
                    Err(e) => {
                        assert!(!e.message.is_empty());
                        assert_eq!(e.position, None);
                    }
                }
            }
            Err(e) => {
                assert!(!e.message.is_empty(), "{source:?}");
                assert!(!e.message.ends_with('.'), "{source:?}: {}", e.message);
                if let Some(pos) = e.position {
                    assert!(pos <= source.len(), "{source:?}: {pos}");
                    assert!(source.is_char_boundary(pos), "{source:?}: {pos}");
                }
            }
        }
    }

    #[test]
    fn random_inputs_do_not_panic() {
        let lookup = |name: &str| match name.len() % 5 {
            0 => None,
            1 => Some(0.0),
            2 => Some(-1.5),
            3 => Some(1e300),
            _ => Some(f64::NAN),
        };
        let vocabulary = [
            "1", "0", "2.5", ".5", "1e3", "1_0", "0x1f", "1e", "x", "y", "abc", "max", "min",
            "abs", "round", "int", "float", "ceil", "floor", "foo", "true", "false", "nil", "and",
            "or", "not", "+", "-", "*", "/", "%", "**", "^", "==", "!=", "<", "<=", ">", ">=",
            "&&", "||", "!", "??", "?", ":", "(", ")", "(", ")", ",", " ", " ", "\t", "\n", "//",
            "/*", "*/", "$", "é", "&", "|", "=", ".", "_", "\"", "0b", "0o", "9", "[", "]", "{",
            "}", "#", "count", "all", "any", "none", "one", "filter", "map", "sum", "mean",
            "median", "len",
        ];
        let chars: Vec<char> = "0123456789._eExXabo+-*/%^=!<>&|?:(), \t\nxyz$é\u{0}\u{2003}ß[]{}#"
            .chars()
            .collect();
        let seeds = [
            "trig_one + trig_two",
            "(queue_a + queue_b) / 2",
            "max(kafka, prom * 2)",
            "trig_one > 2 ? trig_one : 0",
            "missing ?? 0 + other",
            "1 < x <= 10 && !(y == nil) ? round(x ** 2 % 7) : int(-z)",
            "count([trig_one, trig_two], {# > 1}) > 1 ? 5 : 0",
            "sum(map(filter([a, b, c], # > 0), # * 2)) + median([a, b]) + len([1])",
            "all([x], {any([y], # > 1)}) ? mean([x, y ?? 0]) : max([x], 1)",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..6000 {
            let source = match round % 3 {
                0 => {
                    let len = rng.below(30);
                    (0..len).map(|_| *rng.pick(&vocabulary)).collect::<String>()
                }
                1 => {
                    let len = rng.below(40);
                    (0..len).map(|_| *rng.pick(&chars)).collect::<String>()
                }
                _ => {
                    let mut s: Vec<char> = rng.pick(&seeds).chars().collect();
                    for _ in 0..=rng.below(4) {
                        let at = rng.below(s.len() + 1);
                        match rng.below(3) {
                            0 => s.insert(at, *rng.pick(&chars)),
                            1 if at < s.len() => {
                                s.remove(at);
                            }
                            _ if at < s.len() => s[at] = *rng.pick(&chars),
                            _ => {}
                        }
                    }
                    s.into_iter().collect()
                }
            };
            check_no_panic(&source, &lookup);
        }
        // Deep and long garbage.
        for _ in 0..50 {
            let len = 1000 + rng.below(4000);
            let source: String = (0..len)
                .map(|_| *rng.pick(&["(", "-", "!", "1", "+", "?", ":", "**", ")", "x"]))
                .collect();
            check_no_panic(&source, &lookup);
        }
    }

    /// Inputs at and past the nesting limits are handled on a thread with
    /// the default 2 MiB stack of spawned (and tokio worker) threads, even in
    /// debug builds (which need about a quarter of it).
    #[test]
    fn deep_input_is_safe_on_a_default_thread_stack() {
        let sources = [
            format!("{}x{}", "(".repeat(63), ")".repeat(63)),
            format!("{}x{}", "(".repeat(64), ")".repeat(64)),
            format!("{}x", "-(".repeat(31)) + &")".repeat(31),
            format!("{}x{}", "max(1, ".repeat(63), ")".repeat(63)),
            format!("{}x{}", "abs(".repeat(1000), ")".repeat(1000)),
            format!("{}x", "-".repeat(63)),
            format!("{}x", "2 ** ".repeat(63)),
            format!("{}x", "x ? x : ".repeat(63)),
            format!("{}x{}", "x ? (".repeat(40), ") : x".repeat(40)),
            format!("{}x{}", "(".repeat(7), "??h*b+c<d==e&&f||g)".repeat(7)),
            format!("{}x{}", "(".repeat(63), "??h*b+c<d==e&&f||g)".repeat(63)),
            format!(
                "{}x{}",
                "x ?? (x || (x && (x == (x < (x + (x * (-x ** (".repeat(5),
                "))))))))".repeat(5)
            ),
            format!("{}1{}", "[".repeat(63), "]".repeat(63)),
            format!("{}1{}", "sum(map([1], ".repeat(20), "))".repeat(20)),
            format!("{}1{}", "count([1], {".repeat(30), "> 0})".repeat(30)),
            "[".repeat(4000),
            "(".repeat(4000),
            "-".repeat(4000),
            format!("1{}", "+1".repeat(2040)),
        ];
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                for source in &sources {
                    check_no_panic(source, &|_| Some(1.0));
                }
            });
        match handle {
            Ok(handle) => assert!(handle.join().is_ok()),
            Err(e) => panic!("cannot spawn: {e}"),
        }
    }
}
