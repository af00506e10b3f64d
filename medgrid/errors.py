"""How the CLI reports bad input: one line, exit status 2, never a traceback."""

from __future__ import annotations

import click

from medgrid.settings import Settings, SettingsError

EXIT_USAGE = 2


class UserError(click.ClickException):
    exit_code = EXIT_USAGE

    def show(self, file=None):
        click.echo(f"medgrid: error: {self.message}", err=True)


def _user_errors():
    """Exceptions that mean 'the input is wrong' (shown as one line, exit 2), imported lazily."""
    from services.benchmarks.images import ImageError
    from services.benchmarks.registry import UnknownBenchmark
    from services.benchmarks.sample import DataError
    from services.models.spec import SpecError, UnknownModel

    return (DataError, UnknownBenchmark, UnknownModel, SpecError, SettingsError, PermissionError, ImageError,
            FileNotFoundError, NotADirectoryError)


def load_settings(**overrides) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise UserError(str(exc)) from None


class Group(click.Group):
    """A command group that turns input errors raised anywhere below it into ``UserError``."""

    extra_user_errors: tuple[type[BaseException], ...] = ()

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except _user_errors() + self.extra_user_errors as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args and not str(exc) else str(exc)
            raise UserError(message) from None
