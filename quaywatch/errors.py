"""User-facing errors: raised with a message that names what is wrong; the CLI prints it, no traceback."""


class QuaywatchError(Exception):
    """An error a user can act on (bad config, missing file, dead camera...)."""


class ConfigError(QuaywatchError):
    """A site configuration or sidecar that does not validate. `problems` lists `path: message` lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid configuration\n" + "\n".join(f"  {p}" for p in problems))
