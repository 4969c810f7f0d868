//! Tests of the whole module: parsing, evaluation, limits, random input.

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
        "1", "0", "2.5", ".5", "1e3", "1_0", "0x1f", "1e", "x", "y", "abc", "max", "min", "abs",
        "round", "int", "float", "ceil", "floor", "foo", "true", "false", "nil", "and", "or",
        "not", "+", "-", "*", "/", "%", "**", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
        "!", "??", "?", ":", "(", ")", "(", ")", ",", " ", " ", "\t", "\n", "//", "/*", "*/", "$",
        "é", "&", "|", "=", ".", "_", "\"", "0b", "0o", "9", "[", "]", "{", "}", "#", "count",
        "all", "any", "none", "one", "filter", "map", "sum", "mean", "median", "len",
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
