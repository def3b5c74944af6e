//! `yimatong keys|verify|dcc|bench token` (to be written).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Placeholder until the token crate lands.
    Todo,
}

#[derive(clap::Subcommand)]
pub enum DccCommand {
    /// Placeholder until the token crate lands.
    Todo,
}

#[derive(clap::Args)]
pub struct VerifyArgs {}

#[derive(clap::Args)]
pub struct BenchTokenArgs {}

pub fn run_keys(_command: KeysCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn run_verify(_args: VerifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn run_dcc(_command: DccCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}

pub fn run_bench(_args: BenchTokenArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
