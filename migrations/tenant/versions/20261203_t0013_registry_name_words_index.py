"""Registry: a GIN index on the words of ``individuals.name_search`` (``string_to_array(name_search,
' ')``), through which a one- or two-word name search finds the people holding a neighbour of each
query word (decision 0129): exact word keys, a few posting lists, instead of trigram regular
expressions over the trigram index.

Revision ID: t0013
Revises: t0012
Create Date: 2026-12-03 07:00:00
"""

from alembic import op

revision = 't0013'
down_revision = 't0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_individuals_name_words ON individuals USING gin ((string_to_array(name_search, ' ')))")


def downgrade() -> None:
    op.execute("DROP INDEX ix_individuals_name_words")
