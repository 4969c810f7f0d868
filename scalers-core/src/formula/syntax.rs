//! The syntax tree of a formula: expressions, operators and the builtin functions.

/// A node of the syntax tree. Left-associative operator chains are stored
/// flat so that long chains do not make the tree (and evaluation) deep.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expr {
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
pub(super) enum UnaryOp {
    Neg,
    Plus,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    pub(super) fn symbol(self) -> &'static str {
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
pub(super) enum CompareOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Func {
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
    pub(super) fn from_name(name: &str) -> Option<Func> {
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

    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn takes_predicate(self) -> bool {
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
    pub(super) fn arity(self) -> (usize, Option<usize>, &'static str) {
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
