"""Our own exception types. They are raised deep and turned into one-line messages in the CLI."""


class PipelineError(Exception):
    """A user-facing problem (bad input, missing model...). The message is shown as one line."""


class InputError(PipelineError):
    """Bad input data: the message names the file and, where there is one, the line."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ModelError(PipelineError):
    """A model folder that is missing, corrupt, unsafe or incompatible."""
