//! `yimatong trace` and `yimatong bench trace` (to be written).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct TraceArgs {}

#[derive(clap::Args)]
pub struct BenchTraceArgs {}

pub fn run_trace(_args: TraceArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn run_bench(_args: BenchTraceArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
