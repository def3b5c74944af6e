//! `yimatong rules …` (to be written).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Placeholder until the rules engine lands.
    Todo,
}

pub fn run(_command: RulesCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
