//! TEMP placeholder until the formula module lands.
#![allow(missing_docs, unreachable_pub, clippy::all)]
#[derive(Clone, Debug, PartialEq)]
pub struct Formula(String);
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FormulaError {
    pub message: String,
    pub position: Option<usize>,
}
impl Formula {
    pub fn parse(s: &str) -> Result<Formula, FormulaError> {
        Ok(Formula(s.into()))
    }
    pub fn variables(&self) -> Vec<&str> {
        vec![]
    }
    pub fn eval(&self, l: &dyn Fn(&str) -> Option<f64>) -> Result<f64, FormulaError> {
        l(&self.0).ok_or(FormulaError {
            message: "x".into(),
            position: None,
        })
    }
}
