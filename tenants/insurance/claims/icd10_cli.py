"""``schemehost claims icd10-load FILE``: load ICD-10 codes into ``shared.icd10_codes`` (decision 0312).

The shipped subset is loaded by control revision c0006; an operator with the full classification (or a
national tabulation) loads it from a ``code,title`` CSV. Codes already present get the new title.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select


@click.command("icd10-load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report, load nothing.")
@with_appcontext
def icd10_load(path: str, dry_run: bool) -> None:
    """Load the ICD-10 codes of the CSV file PATH (code,title; UTF-8) for every tenant."""
    from schemehost.platform.extensions import db
    from schemehost.tenants.insurance.claims import icd10

    with open(path, encoding="utf-8-sig") as f:
        rows, problems = icd10.read_csv(f.read())
    for problem in problems[:50]:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} bad line(s): nothing loaded")
    if dry_run:
        click.echo(f"{len(rows)} codes would be loaded")
        return
    with db.engine.begin() as conn:
        icd10.load(conn, rows)
        total = conn.execute(select(func.count()).select_from(icd10.CODES)).scalar_one()
    click.echo(f"{len(rows)} codes loaded; {total} in the list")
