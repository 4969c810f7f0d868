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
//! The code is in four parts: `syntax` (the tree), `lexer`, `parser` (which bounds nesting)
//! and `eval` (which bounds steps).
//!
//! [expr]: https://expr-lang.org

use std::cell::Cell;
use std::fmt;

mod eval;
mod lexer;
mod parser;
mod syntax;
#[cfg(test)]
mod tests;

use eval::*;
use lexer::*;
use parser::*;
use syntax::*;

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
