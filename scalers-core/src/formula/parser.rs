//! The precedence-climbing parser, which bounds its own recursion.

use super::*;

/// A binary operator, as written between two operands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum BinOp {
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
pub(super) const MUL_LEVEL: u8 = 7;
/// The binding strength of `**`; unary `-` and `+` apply to what binds at least as tightly
/// (as in expr: `-2 ** 2` is `-(2 ** 2)` and `-a ?? b` is `-(a ?? b)`).
pub(super) const POW_LEVEL: u8 = 8;

impl BinOp {
    pub(super) fn from_token(tok: Tok<'_>) -> Option<BinOp> {
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
    pub(super) fn level(self) -> u8 {
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
pub(super) fn combine(left: Expr, op: BinOp, right: Expr, extend: bool) -> Expr {
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
pub(super) fn height(expr: &Expr) -> usize {
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
pub(super) struct Parser<'s> {
    pub(super) source: &'s str,
    pub(super) tokens: Vec<Token<'s>>,
    /// Index of the next token.
    pub(super) next: usize,
    pub(super) depth: usize,
    /// How many predicates enclose the current position (`#` is valid when above 0).
    pub(super) predicates: usize,
    pub(super) variables: Vec<&'s str>,
}

pub(super) type ParseResult = Result<Expr, FormulaError>;

impl<'s> Parser<'s> {
    pub(super) fn peek(&self) -> Token<'s> {
        self.tokens.get(self.next).copied().unwrap_or(Token {
            kind: Tok::End,
            pos: self.source.len(),
            text: "",
        })
    }

    pub(super) fn bump(&mut self) -> Token<'s> {
        let token = self.peek();
        if token.kind != Tok::End {
            self.next += 1;
        }
        token
    }

    /// Consumes the next token if it is `kind`.
    pub(super) fn eat(&mut self, kind: Tok<'_>) -> bool {
        if self.peek().kind == kind {
            self.next += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, kind: Tok<'_>) -> Result<(), FormulaError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(self.unexpected(self.peek()))
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn unexpected(&self, token: Token<'_>) -> FormulaError {
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
    pub(super) fn enter(&mut self) -> Result<(), FormulaError> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Parses operators binding at least as tightly as `min_level`, and with
    /// `min_level == 0` a trailing `? :` too.
    pub(super) fn expr(&mut self, min_level: u8) -> ParseResult {
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
    pub(super) fn prefix(&mut self) -> ParseResult {
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

    pub(super) fn primary(&mut self) -> ParseResult {
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
    pub(super) fn array(&mut self) -> ParseResult {
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
    pub(super) fn predicate(&mut self) -> ParseResult {
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
    pub(super) fn call(&mut self, name: &str, pos: usize) -> ParseResult {
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

pub(super) fn too_deep() -> FormulaError {
    FormulaError::new("the formula is nested too deeply")
}

// Error builders live outside the recursive parse functions to keep their
// stack frames small.

#[cold]
#[inline(never)]
pub(super) fn unknown_function(name: &str, pos: usize) -> FormulaError {
    FormulaError {
        message: format!("unknown function \"{name}\" at position {pos}; known: {KNOWN_FUNCTIONS}"),
        position: Some(pos),
    }
}

#[cold]
#[inline(never)]
pub(super) fn wrong_arity(func: Func, got: usize, pos: usize) -> FormulaError {
    let (_, _, expected) = func.arity();
    FormulaError::at(
        format!("{}() takes {expected}, got {got}", func.name()),
        pos,
    )
}
