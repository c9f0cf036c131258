"""Errors that tell the user what to do: each carries a ``help`` text."""

from __future__ import annotations


class AssistantError(Exception):
    """Base error; ``help`` says what the user should do next."""

    help: str = ""
    # The CLI's exit code: 2 for what the user must fix in the command, 1 for a request that failed.
    exit_code: int = 2

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        if help is not None:
            self.help = help

    def user_message(self) -> str:
        return f"{self}\n{self.help}" if self.help else str(self)


class ModelMissingError(AssistantError):
    help = "Install the offline models with `make models` (or `python -m assistant.setup_models`)."


class BadInputError(AssistantError):
    help = "Check the file or text and try again; nothing already stored was changed."


class NotFoundError(AssistantError):
    help = "Run `assistant list` to see the stored article ids."


class EmptyArchiveError(AssistantError):
    """No article is stored yet: a question or a search has nothing to read."""

    exit_code = 1
    help = "Ingest articles first: `assistant ingest PATH` (files or folders), or upload them in the web app's Library tab."


class StoreError(AssistantError):
    help = "Check the data dir (--data-dir) or the Chroma server settings (ASSISTANT_CHROMA__HOST/PORT)."


class ReplayMissError(AssistantError):
    help = "Record the calls first with `--record` (or ASSISTANT_LLM__CACHE=record), or turn replay off."


class LLMError(AssistantError):
    help = "Check the model settings (ASSISTANT_LLM__BACKEND, ASSISTANT_LLM__BASE_URL) or run `make models`."


class StructuredOutputError(LLMError):
    """The model did not produce parseable output after all retries."""

    def __init__(self, message: str, attempts: list[str]) -> None:
        super().__init__(message)
        self.attempts = attempts


class EndpointError(LLMError):
    """The model endpoint could not be reached; its address is for the operator, not for web users."""

    help = "Start the model server or fix ASSISTANT_LLM__BASE_URL."


class PermissionDeniedError(AssistantError):
    """The signed-in user's role does not allow the action (refused on the server, whatever the UI shows)."""

    help = "Ask an administrator to give your account the needed role in the auth file (user:password:role)."


class LoginThrottledError(AssistantError):
    """Too many failed logins from this user or address; the next try is allowed after a pause."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, f"Wait {retry_after:.0f} s before trying again.")
        self.retry_after = retry_after
