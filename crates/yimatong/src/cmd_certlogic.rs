//! `yimatong certlogic …` (to be written).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum CertlogicCommand {
    /// Placeholder until the CertLogic engine lands.
    Todo,
}

pub fn run(_command: CertlogicCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
