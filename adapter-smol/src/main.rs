//! `torpor`: the gateway binary.

use std::process::ExitCode;

use clap::Parser as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use torpor_smol::config::{Cli, Command, ConfigCommand, ServeArgs, check_file, settings};
use torpor_smol::{backup, logging, runtime};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", settings::example());
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Check { file }) => match check_file(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("torpor: {e}");
                ExitCode::from(2)
            }
        },
        Command::Backup(args) => match backup::run(&args) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("torpor backup: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> ExitCode {
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
    let (reload_tx, reload_rx) = smol::channel::unbounded();
    let mut signals = match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("torpor: installing the signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("torpor-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    // The file is read again here; the server applies or refuses the result.
                    let _ = reload_tx.send_blocking(args.resolve());
                } else {
                    // A second signal while shutting down changes nothing; the limit applies.
                    let _ = signal_tx.try_send(());
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("torpor: starting the signal thread: {e}");
        return ExitCode::FAILURE;
    }
    let threads = config.threads;
    match runtime::run_server(config, threads, signal_rx, reload_rx, |_| {}) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Printed once, on stderr, where the operator looks first; the logs may be shipped
            // elsewhere.
            eprintln!("torpor: {e}");
            ExitCode::FAILURE
        }
    }
}
