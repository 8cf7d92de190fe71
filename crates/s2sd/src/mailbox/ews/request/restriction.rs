//! FindItem's search filter (`Restriction`): and/or/not, existence, comparisons with a constant,
//! and `Contains`, over property paths; nesting is limited. Whether a path can be filtered on is
//! the operation's decision (it answers `ErrorUnsupportedPathForQuery`), not the parser's.

use super::super::soap::Element;
use super::super::writer::T_NS;
use super::field_uri::PropertyPath;
use super::{RequestError, bad};

/// How deeply restrictions may nest.
const MAX_DEPTH: usize = 32;

/// A search filter (`Restriction`).
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    And(Vec<Restriction>),
    Or(Vec<Restriction>),
    Not(Box<Restriction>),
    Exists(PropertyPath),
    /// `IsEqualTo`, `IsNotEqualTo`, `IsGreaterThan`, …: field, comparison, constant.
    Compare {
        field: PropertyPath,
        op: Comparison,
        value: String,
    },
    /// `Contains`: field, constant, mode, ignore case.
    Contains {
        field: PropertyPath,
        value: String,
        mode: ContainmentMode,
        ignore_case: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainmentMode {
    FullString,
    Prefixed,
    Substring,
    PrefixOnWords,
    ExactPhrase,
}

impl Restriction {
    /// Every property path the filter names, depth first.
    pub fn paths(&self) -> Vec<&PropertyPath> {
        match self {
            Self::And(v) | Self::Or(v) => v.iter().flat_map(Self::paths).collect(),
            Self::Not(inner) => inner.paths(),
            Self::Exists(f) | Self::Compare { field: f, .. } | Self::Contains { field: f, .. } => vec![f],
        }
    }
}

/// Reads the `Restriction` element's condition.
pub fn read(el: &Element) -> Result<Restriction, RequestError> {
    condition(el, 0)
}

fn condition(el: &Element, depth: usize) -> Result<Restriction, RequestError> {
    if depth > MAX_DEPTH {
        return Err(bad("the Restriction is nested too deeply"));
    }
    let subs = |el: &Element| -> Result<Vec<Restriction>, RequestError> {
        el.children.iter().filter(|c| c.ns == T_NS).map(|c| condition(c, depth + 1)).collect()
    };
    let field = |el: &Element| -> Result<PropertyPath, RequestError> {
        el.children.iter().find_map(PropertyPath::of_element).ok_or_else(|| bad(format!("{} names no field", el.name)))
    };
    let constant = |el: &Element| -> Result<String, RequestError> {
        el.child(T_NS, "FieldURIOrConstant")
            .and_then(|c| c.child(T_NS, "Constant"))
            .or_else(|| el.child(T_NS, "Constant"))
            .and_then(|c| c.attr("Value"))
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("{} has no Constant value (comparing two fields is not supported)", el.name)))
    };
    let compare = |op: Comparison| -> Result<Restriction, RequestError> {
        Ok(Restriction::Compare { field: field(el)?, op, value: constant(el)? })
    };
    match el.name.as_str() {
        "And" => Ok(Restriction::And(subs(el)?)),
        "Or" => Ok(Restriction::Or(subs(el)?)),
        "Not" => {
            let mut inner = subs(el)?;
            if inner.len() != 1 {
                return Err(bad("Not must hold exactly one condition"));
            }
            Ok(Restriction::Not(Box::new(inner.remove(0))))
        }
        "Exists" => Ok(Restriction::Exists(field(el)?)),
        "IsEqualTo" => compare(Comparison::Equal),
        "IsNotEqualTo" => compare(Comparison::NotEqual),
        "IsGreaterThan" => compare(Comparison::Greater),
        "IsGreaterThanOrEqualTo" => compare(Comparison::GreaterOrEqual),
        "IsLessThan" => compare(Comparison::Less),
        "IsLessThanOrEqualTo" => compare(Comparison::LessOrEqual),
        "Contains" => {
            let mode = match el.attr("ContainmentMode").unwrap_or("Substring") {
                "FullString" => ContainmentMode::FullString,
                "Prefixed" => ContainmentMode::Prefixed,
                "Substring" => ContainmentMode::Substring,
                "PrefixOnWords" => ContainmentMode::PrefixOnWords,
                "ExactPhrase" => ContainmentMode::ExactPhrase,
                other => return Err(bad(format!("ContainmentMode `{other}` is not supported"))),
            };
            let ignore_case = el.attr("ContainmentComparison").is_some_and(|c| c.contains("IgnoreCase"));
            let value = el
                .child(T_NS, "Constant")
                .and_then(|c| c.attr("Value"))
                .map(str::to_owned)
                .ok_or_else(|| bad("Contains has no Constant"))?;
            Ok(Restriction::Contains { field: field(el)?, value, mode, ignore_case })
        }
        other => Err(bad(format!("the restriction `{other}` is not supported"))),
    }
}
