"""New tenant schemas are built from Alembic's rendered script; they must equal a schema migrated step by step."""

from sqlalchemy import text

from schemehost.platform.extensions import db
from schemehost.provisioning.migrate import build_fresh_schema, fresh_schema_script, head, upgrade_schema

CATALOG = """
SELECT 'column', c.relname::text || '.' || a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = to_regnamespace(:s) AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || conname::text || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = to_regnamespace(:s)
UNION ALL
SELECT 'index', indexname::text || ' ' || indexdef FROM pg_indexes WHERE schemaname = :s
UNION ALL
SELECT 'trigger', tgname::text || ' ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = to_regnamespace(:s) AND NOT t.tgisinternal
UNION ALL
SELECT 'function', proname::text || ' ' || pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = to_regnamespace(:s)
UNION ALL
SELECT 'relation', relname::text || ' ' || relkind::text FROM pg_class WHERE relnamespace = to_regnamespace(:s)
"""


def describe(conn, schema):
    rows = conn.execute(text(CATALOG), {"s": schema}).all()
    return sorted((kind, value.replace(f'"{schema}"', "S").replace(schema, "S")) for kind, value in rows)


def test_rendered_script_builds_the_same_schema_as_running_the_migrations(app, unique):
    a, b = f"tenant_{unique('fresh')}", f"tenant_{unique('stepwise')}"
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{a}"'))
        build_fresh_schema(conn, a)
        conn.execute(text(f'CREATE SCHEMA "{b}"'))
        upgrade_schema(conn, b)
        assert fresh_schema_script(head("tenant")) is not None  # the fast path really ran
        fresh = describe(conn, a)
        assert {kind for kind, _value in fresh} == {"column", "constraint", "index", "trigger", "function", "relation"}
        assert fresh == describe(conn, b)
        assert conn.execute(text(f'SELECT version_num FROM "{a}".alembic_version')).scalar() == head("tenant")
        conn.execute(text(f'DROP SCHEMA "{a}" CASCADE'))
        conn.execute(text(f'DROP SCHEMA "{b}" CASCADE'))
