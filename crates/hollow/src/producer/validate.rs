//! Validators: checks on the new state of a cycle before it is announced. A failure rolls the
//! cycle back.

use crate::write::TypeChangeCounts;

/// What a validator sees of one type in a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeValidation {
    /// Type name.
    pub name: String,
    /// Records before the cycle.
    pub before: u32,
    /// Records after the cycle.
    pub after: u32,
    /// Added, updated and removed records.
    pub changes: TypeChangeCounts,
}

/// What a validator sees of a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationInput {
    /// The version the cycle would announce.
    pub version: u64,
    /// Every registered type.
    pub types: Vec<TypeValidation>,
}

/// A check run on every cycle before announcement.
pub trait Validator: Send + Sync {
    /// Name used in errors.
    fn name(&self) -> &str;
    /// `Err(reason)` fails the cycle.
    fn validate(&self, input: &ValidationInput) -> Result<(), String>;
}

/// Fails a cycle that changes more than `max_ratio` of a type's records (added + updated +
/// removed, relative to the records before; a type empty before is never refused).
#[derive(Debug, Clone)]
pub struct MaxChangeRatio {
    /// The type to check, or every type.
    pub type_name: Option<String>,
    /// Largest allowed fraction, e.g. `0.1`.
    pub max_ratio: f64,
}

impl Validator for MaxChangeRatio {
    fn name(&self) -> &str {
        "max change ratio"
    }

    fn validate(&self, input: &ValidationInput) -> Result<(), String> {
        for t in input
            .types
            .iter()
            .filter(|t| self.type_name.as_ref().is_none_or(|n| *n == t.name))
        {
            if t.before == 0 {
                continue;
            }
            let changed = f64::from(t.changes.added)
                + f64::from(t.changes.updated)
                + f64::from(t.changes.removed);
            let ratio = changed / f64::from(t.before);
            if ratio > self.max_ratio {
                return Err(format!(
                    "{} changes {changed} of {} records ({:.1}%), more than {:.1}%",
                    t.name,
                    t.before,
                    ratio * 100.0,
                    self.max_ratio * 100.0
                ));
            }
        }
        Ok(())
    }
}

/// Fails a cycle that leaves a type with fewer than `min` records.
#[derive(Debug, Clone)]
pub struct MinRecordCount {
    /// The type to check.
    pub type_name: String,
    /// Fewest allowed records.
    pub min: u32,
}

impl Validator for MinRecordCount {
    fn name(&self) -> &str {
        "min record count"
    }

    fn validate(&self, input: &ValidationInput) -> Result<(), String> {
        match input.types.iter().find(|t| t.name == self.type_name) {
            Some(t) if t.after < self.min => Err(format!(
                "{} would have {} records, fewer than {}",
                t.name, t.after, self.min
            )),
            Some(_) => Ok(()),
            None => Err(format!("no type {}", self.type_name)),
        }
    }
}

/// A validator from a closure.
pub struct FnValidator<F> {
    name: String,
    check: F,
}

impl<F: Fn(&ValidationInput) -> Result<(), String> + Send + Sync> FnValidator<F> {
    /// A validator called `name` running `check`.
    pub fn new(name: &str, check: F) -> Self {
        Self {
            name: name.to_string(),
            check,
        }
    }
}

impl<F: Fn(&ValidationInput) -> Result<(), String> + Send + Sync> Validator for FnValidator<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, input: &ValidationInput) -> Result<(), String> {
        (self.check)(input)
    }
}
