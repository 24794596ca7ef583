"""``lstmgen corpora``: the built-in corpora, their sizes and whether they are cached."""

import json

import click

from .options import json_option


@click.command()
@json_option("Print one JSON object per corpus instead of a table.")
def corpora(as_json):
    """List the built-in corpora (data.corpus: builtin:NAME) with their sizes."""
    from ..data.corpus import list_corpora

    from ..data.cache import ENV_VAR, cache_dir

    for entry in list_corpora():
        if as_json:
            click.echo(json.dumps(entry))
        elif "error" in entry:
            click.echo(f"{entry['name']:<26} not available: {entry['error']}")
        else:
            cached = "cached" if entry["cached"] else "not cached"
            click.echo(f"{entry['name']:<26} {entry['bytes'] / 1e6:6.2f} MB {entry['documents']:>8,} documents  "
                       f"{cached:<10}  {entry['description']}")
    if not as_json:
        click.echo(f"cache: {cache_dir()} (moved by {ENV_VAR}; delete the folder to clear it)")
