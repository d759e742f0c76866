//! `shoal create`.

/// Options of `shoal create`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `shoal create`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`shoal create` is not implemented yet")
}
