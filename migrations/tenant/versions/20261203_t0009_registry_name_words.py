"""Registry: ``name_words``, the dictionary of the words of people's names that name search looks
words up in (decision 0129), kept by statement-level triggers on ``individuals`` (set-wise: one
statement per statement, whatever wrote the rows) and filled from the people already registered.

Revision ID: t0009
Revises: t0008
Create Date: 2026-12-03 07:05:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0009'
down_revision = 't0008'
branch_labels = None
depends_on = None

#: Keys of a word: the word, each of its alphanumeric parts when it has other characters
#: ("jean-pierre": "jean", "pierre"), and every one of these with one letter deleted. Two words
#: within one slip of each other (a letter dropped, added, changed, or two swapped) share a key.
#: Words already known (their own key row exists) are skipped: a re-import adds nothing.
#: Erased people (status 'erased', pseudonymised names) add nothing; the words only they held go.
KEEP_FUNCTION = r"""
CREATE FUNCTION name_words_keep() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  s text := quote_ident(TG_TABLE_SCHEMA) || '.';
BEGIN
  EXECUTE $q$
    INSERT INTO $q$ || s || $q$name_words (key, word)
    SELECT DISTINCT k.key, t.word
      FROM (SELECT DISTINCT w AS word
              FROM (SELECT DISTINCT name_search FROM new_rows WHERE status <> 'erased') n,
                   unnest(string_to_array(n.name_search, ' ')) w
             WHERE w ~ '[[:alnum:]]') t
     CROSS JOIN LATERAL (SELECT t.word AS p
                         UNION SELECT x FROM regexp_split_to_table(t.word, '[^[:alnum:]]+') x) p
     CROSS JOIN LATERAL (SELECT p.p AS key
                         UNION ALL SELECT substr(p.p, 1, i - 1) || substr(p.p, i + 1)
                           FROM generate_series(1, length(p.p)) i) k
     WHERE k.key <> ''
       AND NOT EXISTS (SELECT 1 FROM $q$ || s || $q$name_words x WHERE x.key = t.word AND x.word = t.word)
    ON CONFLICT DO NOTHING
  $q$;
  IF TG_OP = 'UPDATE' THEN
    EXECUTE $q$
      DELETE FROM $q$ || s || $q$name_words k
       USING (SELECT DISTINCT w AS word
                FROM old_rows o JOIN new_rows n ON n.id = o.id, unnest(string_to_array(o.name_search, ' ')) w
               WHERE n.status = 'erased' AND o.status <> 'erased') g
       WHERE k.word = g.word
         AND NOT EXISTS (SELECT 1 FROM $q$ || s || $q$individuals i
                          WHERE i.status <> 'erased'
                            AND i.name_search ~ ('(^| )' || regexp_replace(g.word, '([^[:alnum:]])', '\\\1', 'g')
                                                 || '( |$)'))
    $q$;
  END IF;
  RETURN NULL;
END $fn$
"""


def upgrade() -> None:
    op.create_table('name_words',
    sa.Column('key', sa.String(length=302), nullable=False),
    sa.Column('word', sa.String(length=302), nullable=False),
    sa.PrimaryKeyConstraint('key', 'word', name=op.f('pk_name_words'))
    )
    op.create_index('ix_name_words_word', 'name_words', ['word'], unique=False, postgresql_using='gin',
                    postgresql_ops={'word': 'shared.gin_trgm_ops'})
    op.execute(KEEP_FUNCTION)
    op.execute("CREATE TRIGGER individuals_name_words_insert AFTER INSERT ON individuals "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION name_words_keep()")
    op.execute("CREATE TRIGGER individuals_name_words_update AFTER UPDATE ON individuals "
               "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
               "EXECUTE FUNCTION name_words_keep()")
    op.execute("""
        INSERT INTO name_words (key, word)
        SELECT DISTINCT k.key, t.word
          FROM (SELECT DISTINCT w AS word
                  FROM (SELECT DISTINCT name_search FROM individuals WHERE status <> 'erased') n,
                       unnest(string_to_array(n.name_search, ' ')) w
                 WHERE w ~ '[[:alnum:]]') t
         CROSS JOIN LATERAL (SELECT t.word AS p UNION SELECT x FROM regexp_split_to_table(t.word, '[^[:alnum:]]+') x) p
         CROSS JOIN LATERAL (SELECT p.p AS key
                             UNION ALL SELECT substr(p.p, 1, i - 1) || substr(p.p, i + 1)
                               FROM generate_series(1, length(p.p)) i) k
         WHERE k.key <> ''
        ON CONFLICT DO NOTHING
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER individuals_name_words_update ON individuals")
    op.execute("DROP TRIGGER individuals_name_words_insert ON individuals")
    op.execute("DROP FUNCTION name_words_keep()")
    op.drop_index('ix_name_words_word', table_name='name_words', postgresql_using='gin',
                  postgresql_ops={'word': 'shared.gin_trgm_ops'})
    op.drop_table('name_words')
