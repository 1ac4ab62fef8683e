"""Cash transfers: what enrolment jobs, payment points and reports need; payroll lines at a million.

Payroll lines at a million (decision 0413): the lines' foreign keys to their payroll and beneficiary
are replaced by statement-level triggers on the referenced side (a deleted payroll takes its lines, a
beneficiary with lines is not deleted) and a guard against repointing a line; the per-line foreign-key
checks were half of a million-line payroll's generation. The payroll index also orders by status and
id, so "is any line of this payroll still pending?" is a short index probe.

Revision ID: t0019
Revises: t0018
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 't0019'
down_revision = 't0018'
branch_labels = None
depends_on = None

#: Referential integrity of payroll lines, kept on the referenced side (decision 0413). Lines are
#: written only by the payroll's own INSERT ... SELECT (the payroll made in the same transaction, the
#: beneficiaries read by the same statement). A deleted payroll deletes its lines (as ON DELETE CASCADE
#: did); deleting a beneficiary that has lines fails (as ON DELETE RESTRICT did) — the SHARE lock
#: waits for a payroll being generated and keeps new ones out until the deleting transaction ends, so
#: the check sees every line that could name the beneficiary; a line's payroll or beneficiary never
#: changes. (No '%' in the function: the offline script of new schemas doubles it.)
LINE_REFS_FUNCTION = r"""
CREATE FUNCTION transfer_payroll_lines_refs() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  s text := quote_ident(TG_TABLE_SCHEMA) || '.';
  found bigint;
BEGIN
  IF TG_TABLE_NAME = 'transfer_payrolls' THEN
    EXECUTE 'DELETE FROM ' || s || 'transfer_payroll_lines l USING gone WHERE l.payroll_id = gone.id';
  ELSIF TG_TABLE_NAME = 'transfer_beneficiaries' THEN
    EXECUTE 'LOCK TABLE ' || s || 'transfer_payroll_lines IN SHARE MODE';
    EXECUTE 'SELECT l.beneficiary_id FROM ' || s || 'transfer_payroll_lines l JOIN gone ON gone.id = l.beneficiary_id '
            'LIMIT 1' INTO found;
    IF found IS NOT NULL THEN
      RAISE EXCEPTION USING MESSAGE = 'beneficiary ' || found || ' is named by payroll lines',
              ERRCODE = 'foreign_key_violation', TABLE = 'transfer_payroll_lines',
              CONSTRAINT = 'transfer_payroll_lines_beneficiary';
    END IF;
  ELSIF NEW.payroll_id IS DISTINCT FROM OLD.payroll_id OR NEW.beneficiary_id IS DISTINCT FROM OLD.beneficiary_id THEN
    RAISE EXCEPTION USING MESSAGE = 'a payroll line keeps its payroll and beneficiary',
          ERRCODE = 'foreign_key_violation', TABLE = 'transfer_payroll_lines',
          CONSTRAINT = 'transfer_payroll_lines_refs';
  ELSE
    RETURN NEW;
  END IF;
  RETURN NULL;
END $fn$
"""


def upgrade() -> None:
    # ---- payroll lines at a million (decision 0413) ----
    op.drop_constraint('fk_transfer_payroll_lines_payroll_id_transfer_payrolls', 'transfer_payroll_lines',
                       type_='foreignkey')
    op.drop_constraint('fk_transfer_payroll_lines_beneficiary_id_transfer_beneficiaries', 'transfer_payroll_lines',
                       type_='foreignkey')
    op.drop_index('ix_transfer_payroll_lines_payroll_id', table_name='transfer_payroll_lines')
    op.create_index('ix_transfer_payroll_lines_payroll_status', 'transfer_payroll_lines',
                    ['payroll_id', 'status', 'id'], unique=False)
    op.execute(LINE_REFS_FUNCTION)
    op.execute("CREATE TRIGGER transfer_payrolls_delete_lines AFTER DELETE ON transfer_payrolls "
               "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION transfer_payroll_lines_refs()")
    op.execute("CREATE TRIGGER transfer_beneficiaries_keep_lines AFTER DELETE ON transfer_beneficiaries "
               "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION transfer_payroll_lines_refs()")
    op.execute("CREATE TRIGGER transfer_payroll_lines_keep_refs BEFORE UPDATE OF payroll_id, beneficiary_id "
               "ON transfer_payroll_lines FOR EACH ROW EXECUTE FUNCTION transfer_payroll_lines_refs()")


def downgrade() -> None:
    # ---- payroll lines at a million (decision 0413) ----
    op.execute("DROP TRIGGER transfer_payroll_lines_keep_refs ON transfer_payroll_lines")
    op.execute("DROP TRIGGER transfer_beneficiaries_keep_lines ON transfer_beneficiaries")
    op.execute("DROP TRIGGER transfer_payrolls_delete_lines ON transfer_payrolls")
    op.execute("DROP FUNCTION transfer_payroll_lines_refs()")
    op.drop_index('ix_transfer_payroll_lines_payroll_status', table_name='transfer_payroll_lines')
    op.create_index('ix_transfer_payroll_lines_payroll_id', 'transfer_payroll_lines', ['payroll_id'], unique=False)
    op.create_foreign_key('fk_transfer_payroll_lines_beneficiary_id_transfer_beneficiaries', 'transfer_payroll_lines',
                          'transfer_beneficiaries', ['beneficiary_id'], ['id'], ondelete='RESTRICT')
    op.create_foreign_key('fk_transfer_payroll_lines_payroll_id_transfer_payrolls', 'transfer_payroll_lines',
                          'transfer_payrolls', ['payroll_id'], ['id'], ondelete='CASCADE')
