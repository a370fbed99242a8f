//! Structured logs with tracing. Request spans record the method and the path only — never the
//! query string or headers — so tokens cannot reach a log line through them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber writing to `writer`. Returns false if one was already set.
pub fn init<W>(config: &Config, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.log_format {
        LogFormat::Json => builder.json().try_init().is_ok(),
        LogFormat::Pretty => builder.try_init().is_ok(),
    }
}
