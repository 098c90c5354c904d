"""The `pushr-relay` command: one entry point, one module per subcommand.

Each subcommand's module is imported only when it runs, so `pushr-relay validate`
does not pay for Kafka or the sandbox, and the production image needs no sandbox extras.
Settings that cannot work end every subcommand the same way: one line on stderr,
`pushr-relay: configuration error: ...`, and exit status 2; never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from service.configuration import ConfigurationError

EXIT_CONFIGURATION = 2
_ENV_PREFIX = "PUSHR_RELAY_"

# subcommand -> (module, one-line help). Each module exposes `cli_main(argv) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("service.app", "consume SMS events and send them through Push.R"),
    "validate": ("service.contract.validate_cli", "validate JSON-lines events (stdin or file)"),
    "dlq": ("service.ops.dlq_cli", "list, show and replay dead letters"),
    "trace": ("service.ops.trace_cli", "the whole story of one event, from Kafka and the ledger"),
    "optout": ("service.ops.optout_cli", "add, remove, check or import opted-out numbers"),
    "sandbox": ("service.devkit.sandbox.cli", "serve the Push.R sandbox"),
    "kafka": ("service.devkit.broker.cli", "start|stop|status a local Apache Kafka broker"),
    "produce": ("service.devkit.produce", "produce JSON-lines events to a topic"),
    "demo": ("service.devkit.demo", "run broker, sandbox and service with sample events"),
    "accounts": ("service.ops.accounts", "list accounts and their holds; release a hold"),
}


def _usage() -> str:
    lines = ["usage: pushr-relay <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines.append("\n`pushr-relay <command> --help` for a command's options.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"pushr-relay: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        code: int = module.cli_main(rest)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"pushr-relay: configuration error: {settings_problems(exc)}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except ConfigurationError as exc:
        # one line per problem (an accounts file may have several)
        for line in str(exc).splitlines() or [""]:
            print(f"pushr-relay: configuration error: {line}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return code


def settings_problems(exc: ValidationError) -> str:
    """Every problem of a Settings validation on one line, named by environment variable.

    The values given are left out: they may be passwords.
    """
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = [str(part) for part in error["loc"]]
        if loc:
            name = loc[0] if loc[0].isupper() else _ENV_PREFIX + loc[0].upper()
            message = f"{name}: {message}"
        problems.append(message)
    return "; ".join(" ".join(problem.split()) for problem in problems)


if __name__ == "__main__":
    sys.exit(main())
