//! Log lines in the real program's shape, `2026/01/18 19:25:06 [info]      Message sent to <url>`,
//! written to stderr through `tracing`.

use std::fmt;

use time::OffsetDateTime;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::LogLevel;

/// Installs the stderr logger at `level`. Does nothing if a global subscriber is already set
/// (a test harness, or an embedding program with its own).
pub fn init(level: LogLevel) {
    let max = match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
    };
    let _already_set = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr)
        .event_format(GoLogFormat)
        .try_init();
}

/// `YYYY/MM/DD HH:MM:SS [level]` padded to the width the real program uses, then the message.
/// Times are UTC, like the launcher's `messageTime`s.
#[derive(Debug, Clone, Copy)]
pub struct GoLogFormat;

impl<S, N> FormatEvent<S, N> for GoLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = OffsetDateTime::now_utc();
        let level = match *event.metadata().level() {
            Level::ERROR => "[error]",
            Level::WARN => "[warn]",
            Level::INFO => "[info]",
            Level::DEBUG => "[debug]",
            Level::TRACE => "[trace]",
        };
        write!(
            writer,
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02} {level:<11} ",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
