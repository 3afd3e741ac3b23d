//! `torpor`: the gateway binary.

use std::process::ExitCode;

use clap::Parser as _;
use torpor_smol::config::{Cli, Command};
use torpor_smol::{logging, runtime};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(&args),
    }
}

fn serve(args: &torpor_smol::config::ServeArgs) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("torpor: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(config.log_format, &config.log) {
        eprintln!("torpor: {e}");
        return ExitCode::from(2);
    }
    let (signal_tx, signal_rx) = smol::channel::bounded(1);
    if let Err(e) = ctrlc::set_handler(move || {
        // A second signal while shutting down changes nothing; the limit still applies.
        let _ = signal_tx.try_send(());
    }) {
        eprintln!("torpor: installing the signal handler: {e}");
        return ExitCode::FAILURE;
    }
    let threads = config.threads;
    match runtime::run_server(config, threads, signal_rx, |_| {}) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "torpor failed");
            eprintln!("torpor: {e}");
            ExitCode::FAILURE
        }
    }
}
