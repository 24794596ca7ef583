"""``lstmgen config``: the config keys with their defaults, allowed values and meaning."""

import json

import click

from .options import json_option


@click.command("config")
@click.argument("key", required=False)
@json_option("Print a JSON list of {key, default, type, allowed, help}.")
def config_cmd(key, as_json):
    """List the config keys: default, type, allowed values and meaning.

    KEY shows one key (train.seq_len) or one section (train). Set keys in a YAML file
    (lstmgen train --config FILE) or with lstmgen train --set KEY=VALUE.
    """
    from ..runs.config import describe_keys, find_key

    rows = describe_keys() if key is None else [r for r in describe_keys() if r["key"] in find_key(key)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        default = json.dumps(r["default"]) if r["default"] is None or isinstance(r["default"], bool) else r["default"]
        allowed = f"; {r['allowed']}" if r["allowed"] else ""
        click.echo(f"{r['key']} = {default}   ({r['type']}{allowed})")
        click.echo(f"    {r['help']}")
