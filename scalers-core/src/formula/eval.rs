//! Evaluation of a syntax tree, bounded in steps.

use super::*;

/// A value during evaluation. Nil remembers the trigger it came from
/// (`None` for the literal `nil`) so errors can name it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Num(f64),
    Bool(bool),
    Nil(Option<&'a str>),
    Array(Vec<Value<'a>>),
}

impl Value<'_> {
    /// What the value is, as messages say it after "got".
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Value::Num(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Nil(_) => "nil",
            Value::Array(_) => "an array",
        }
    }
}

/// `value` as a number; `what` names the user in errors (`operator "+"`).
pub(super) fn number(value: &Value<'_>, what: &dyn fmt::Display) -> Result<f64, FormulaError> {
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
pub(super) fn boolean(value: &Value<'_>, what: &dyn fmt::Display) -> Result<bool, FormulaError> {
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
pub(super) struct Operator(&'static str);

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator \"{}\"", self.0)
    }
}

/// Names a function in error messages: `function "abs"`.
pub(super) struct Function(Func);

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "function \"{}\"", self.0.name())
    }
}

/// The callback giving each trigger's value.
pub(super) type Lookup<'l> = &'l dyn Fn(&str) -> Option<f64>;

/// What evaluation needs besides the tree: the triggers' values, the element `#` stands for
/// inside a predicate, and the count of steps taken (bounded by [`MAX_STEPS`]).
#[derive(Clone, Copy)]
pub(super) struct Cx<'c, 'a> {
    pub(super) lookup: Lookup<'c>,
    pub(super) elem: Option<&'c Value<'a>>,
    pub(super) steps: &'c Cell<usize>,
}

impl<'a> Cx<'_, 'a> {
    /// Counts one step (an array element built, or a predicate applied).
    pub(super) fn step(&self) -> Result<(), FormulaError> {
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

pub(super) type EvalResult<'a> = Result<Value<'a>, FormulaError>;

/// Evaluates `expr`. Compound nodes are handled by separate functions so
/// that this recursive frame stays small.
pub(super) fn eval<'a>(expr: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
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

pub(super) fn eval_unary<'a>(op: UnaryOp, operand: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let value = eval(operand, cx)?;
    Ok(match op {
        UnaryOp::Neg => Value::Num(-number(&value, &Operator("-"))?),
        UnaryOp::Plus => Value::Num(number(&value, &Operator("+"))?),
        UnaryOp::Not => Value::Bool(!boolean(&value, &Operator("!"))?),
    })
}

pub(super) fn eval_pow<'a>(base: &'a Expr, exponent: &'a Expr, cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let base = number(&eval(base, cx)?, &Operator("**"))?;
    let exponent = number(&eval(exponent, cx)?, &Operator("**"))?;
    Ok(Value::Num(base.powf(exponent)))
}

pub(super) fn eval_arith<'a>(
    first: &'a Expr,
    rest: &'a [(ArithOp, Expr)],
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
    let mut acc = eval(first, cx)?;
    for (op, operand) in rest {
        let what = Operator(op.symbol());
        let left = number(&acc, &what)?;
        let right = number(&eval(operand, cx)?, &what)?;
        acc = Value::Num(arith(*op, left, right)?);
    }
    Ok(acc)
}

pub(super) fn eval_equal<'a>(
    first: &'a Expr,
    rest: &'a [(bool, Expr)],
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
    let mut acc = eval(first, cx)?;
    for (negated, operand) in rest {
        let right = eval(operand, cx)?;
        let what = Operator(if *negated { "!=" } else { "==" });
        acc = Value::Bool(equal(&acc, &right, &what)? != *negated);
    }
    Ok(acc)
}

/// `a < b <= c` is `a < b && b <= c`, evaluating `b` once.
pub(super) fn eval_compare<'a>(
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
pub(super) fn eval_logic<'a>(
    operands: &'a [Expr],
    stop_on: bool,
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
    let what = Operator(if stop_on { "||" } else { "&&" });
    for operand in operands {
        if boolean(&eval(operand, cx)?, &what)? == stop_on {
            return Ok(Value::Bool(stop_on));
        }
    }
    Ok(Value::Bool(!stop_on))
}

pub(super) fn eval_coalesce<'a>(operands: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut value = Value::Nil(None);
    for operand in operands {
        value = eval(operand, cx)?;
        if !matches!(value, Value::Nil(_)) {
            break;
        }
    }
    Ok(value)
}

pub(super) fn eval_cond<'a>(
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

pub(super) fn eval_array<'a>(items: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        cx.step()?;
        values.push(eval(item, cx)?);
    }
    Ok(Value::Array(values))
}

pub(super) fn arith(op: ArithOp, left: f64, right: f64) -> Result<f64, FormulaError> {
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
pub(super) fn nan_or(pick: fn(f64, f64) -> f64) -> impl Fn(f64, f64) -> f64 {
    move |a, b| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            pick(a, b)
        }
    }
}

pub(super) fn equal(
    left: &Value<'_>,
    right: &Value<'_>,
    what: &Operator,
) -> Result<bool, FormulaError> {
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
pub(super) fn elements<'v, 'a>(
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
pub(super) fn numbers(values: &[Value<'_>], what: &Function) -> Result<Vec<f64>, FormulaError> {
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
pub(super) fn median(mut values: Vec<f64>) -> f64 {
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

pub(super) fn call<'a>(func: Func, args: &'a [Expr], cx: Cx<'_, 'a>) -> EvalResult<'a> {
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
pub(super) fn call_with_predicate<'a>(
    func: Func,
    args: &'a [Expr],
    cx: Cx<'_, 'a>,
) -> EvalResult<'a> {
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
