//! Cold-start configuration: the shared `SdkConfig` with explicit timeouts and a bounded retry
//! budget, and typed access to the environment variables that name our resources.
//!
//! Endpoints come from the standard `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS` and
//! `AWS_ENDPOINT_URL_DYNAMODB` variables, which `aws_config` reads itself; there is no
//! "local mode" branch here, so LocalStack and moto differ from AWS only in the environment.

use std::env::{self, VarError};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// The variable holding the DynamoDB table name.
pub const TABLE_NAME_VAR: &str = "ROCKETS_TABLE_NAME";
/// The variable holding the ingest queue URL.
pub const QUEUE_URL_VAR: &str = "ROCKETS_QUEUE_URL";
/// The table name `rockets-local --create-resources` uses unless told otherwise.
pub const DEFAULT_TABLE_NAME: &str = "rockets-state";
/// The queue name `rockets-local --create-resources` uses unless told otherwise.
pub const DEFAULT_QUEUE_NAME: &str = "rockets-messages";
/// The dead-letter queue name `rockets-local --create-resources` uses unless told otherwise.
pub const DEFAULT_DLQ_NAME: &str = "rockets-messages-dlq";

/// Time allowed to open a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for one attempt of an operation, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for a whole operation, all retries and back-off included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per operation, the first one included.
pub const MAX_ATTEMPTS: u32 = 4;

/// A required setting is missing or unusable; the message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is unset or empty.
    #[error("environment variable {name} is required but not set")]
    Missing {
        /// The variable's name.
        name: String,
    },
    /// The variable is set but not valid Unicode.
    #[error("environment variable {name} is not valid UTF-8")]
    NotUnicode {
        /// The variable's name.
        name: String,
    },
}

/// Loads the shared SDK configuration from the environment (credentials, region, endpoints),
/// with our timeouts and retry budget. Call it once at cold start and build every client from
/// the result: loading is the costly part, clients are cheap.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeout_config())
        .retry_config(retry_config())
        .load()
        .await
}

/// The timeouts every client uses: short enough that a retried operation (≤10 s) fits well
/// inside a Lambda timeout, long enough for DynamoDB and SQS under normal load.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Standard retries (throttling, 5xx, timeouts) with at most [`MAX_ATTEMPTS`] attempts. The
/// back-off starts small because the operation timeout, not the back-off, bounds the wait.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2))
}

/// Reads a required environment variable.
///
/// # Errors
/// [`ConfigError::Missing`] when it is unset or empty, [`ConfigError::NotUnicode`] when it is
/// not UTF-8; both name the variable.
pub fn required_env(name: &str) -> Result<String, ConfigError> {
    optional_env(name)?.ok_or_else(|| ConfigError::Missing {
        name: name.to_owned(),
    })
}

/// Reads an optional environment variable; unset and empty both give `None`.
///
/// # Errors
/// [`ConfigError::NotUnicode`] when it is set but not UTF-8.
pub fn optional_env(name: &str) -> Result<Option<String>, ConfigError> {
    interpret(name, env::var(name))
}

fn interpret(name: &str, value: Result<String, VarError>) -> Result<Option<String>, ConfigError> {
    match value {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode {
            name: name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    #[test]
    fn missing_and_empty_variables_name_the_variable() {
        assert_eq!(interpret("X", Err(VarError::NotPresent)), Ok(None));
        assert_eq!(interpret("X", Ok("  ".into())), Ok(None));
        let err = required_env("ROCKETS_SURELY_UNSET_VARIABLE_1234").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable ROCKETS_SURELY_UNSET_VARIABLE_1234 is required but not set"
        );
    }

    #[test]
    fn set_variables_are_returned_and_non_unicode_is_an_error() {
        assert_eq!(
            interpret("X", Ok("rockets".into())),
            Ok(Some("rockets".into()))
        );
        let err = interpret("X", Err(VarError::NotUnicode(OsString::from("x")))).unwrap_err();
        assert_eq!(err, ConfigError::NotUnicode { name: "X".into() });
    }

    #[test]
    fn timeouts_and_retries_are_explicit() {
        let t = timeout_config();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(retry_config().max_attempts(), MAX_ATTEMPTS);
    }
}
