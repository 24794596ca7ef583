"""What one request may ask of ``lstmgen serve``, and how many run at once."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many run at once (``lstmgen serve`` options)."""

    max_tokens: int = 1024  # tokens generated per choice
    max_prompt_chars: int = 4096  # characters per prompt
    max_choices: int = 16  # n x number of prompts
    max_body_bytes: int = 256 * 1024  # request body
    workers: int = 1  # generations running at once (threads): more helps only with cores to spare (RESULTS.md)
    queue: int = 32  # requests waiting for a worker; past that: 503
