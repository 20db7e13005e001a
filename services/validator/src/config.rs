//! The validator's process configuration from the environment (`PINTA_RULES_FILE`).

use std::path::PathBuf;

use crate::error::ConfigError;
use crate::rules::RuleSet;

/// Environment variable naming a TOML rule file; unset or empty = the built-in rules.
pub const RULES_FILE_VAR: &str = "PINTA_RULES_FILE";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidatorConfig {
    /// The rule file, when one was configured.
    pub rules_file: Option<PathBuf>,
    /// The rules loaded from it (or the defaults).
    pub rules: RuleSet,
}

impl ValidatorConfig {
    /// Reads `PINTA_RULES_FILE` and loads the file it names.
    pub fn from_env() -> Result<ValidatorConfig, ConfigError> {
        ValidatorConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Same as [`ValidatorConfig::from_env`] with an explicit variable lookup (tests, embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ValidatorConfig, ConfigError> {
        let Some(value) = lookup(RULES_FILE_VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(ValidatorConfig::default());
        };
        let path = PathBuf::from(value.trim());
        let rules = RuleSet::load(&path).map_err(|source| ConfigError::Rules {
            variable: RULES_FILE_VAR,
            value: value.clone(),
            source: Box::new(source),
        })?;
        Ok(ValidatorConfig { rules_file: Some(path), rules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_default_and_bad_file_names_the_variable() {
        assert_eq!(ValidatorConfig::from_lookup(|_| None).unwrap(), ValidatorConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "quarantine_threshold = 0.25").unwrap();
        let g = good.to_string_lossy().into_owned();
        let c = ValidatorConfig::from_lookup(|_| Some(g.clone())).unwrap();
        assert_eq!(c.rules.quarantine_threshold, 0.25);
        assert_eq!(c.rules_file.as_deref(), Some(good.as_path()));

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[rules.cost_mismatch]\nenabeld = false").unwrap();
        let b = bad.to_string_lossy().into_owned();
        let e = ValidatorConfig::from_lookup(|_| Some(b.clone())).unwrap_err();
        let chain = pinta_platform::runner::error_chain(&e);
        assert!(chain.contains("PINTA_RULES_FILE"), "{chain}");
        assert!(chain.contains("enabeld"), "{chain}");
    }
}
